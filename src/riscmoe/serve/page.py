"""The service's page at ``/``: plain server-rendered HTML with inline SVG charts (no script, nothing fetched).

What it shows of a recognition system: the members as a table (a page of ``PER_PAGE`` at a
time) and as a picture (when each was made against the examples it holds, coloured by
label; at most ``MAX_POINTS`` of them drawn, spread evenly, so the page stays small with
tens of thousands), the routing of the last answers (which member answered which label:
the busiest members, the rest pooled), the accuracy of answered requests from their
feedback over time, the archive's contents by kind, and the cost per input (multiply-adds
of each part, and the measured time of the last requests). Every figure is an aggregate
over arrays, never one element per record.
"""

from __future__ import annotations

import html
import math
import time
from typing import Any
from urllib.parse import urlencode

PER_PAGE = 50
MAX_POINTS = 2000
TOP_MEMBERS = 24
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:0.85em}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.note{color:#666;font-size:0.85em}
svg{background:#fcfcfc;border:1px solid #eee}.nav a{margin-right:1em}
"""


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _link(number: int, token: str | None) -> str:
    q = {"page": number}
    if token:
        q["token"] = token
    return "/?" + urlencode(q)


def render(service: Any, number: int = 1, token: str | None = None) -> str:
    """The whole page, as text (``number``: the members table's page, from 1)."""
    if service.domain == "functions":
        body = _functions(service, number, token)
        title = "riscmoe functions library"
    else:
        body = _recognition(service, number, token)
        title = "riscmoe system"
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'><title>{title}</title>"
            f"<style>{_STYLE}</style></head><body>{body}"
            f"<p class='note'>rendered {time.strftime('%Y-%m-%d %H:%M:%S')}; reload for fresh figures</p></body></html>")


# ------------------------------------------------------------------ recognition
def _recognition(service: Any, number: int, token: str | None) -> str:
    clf = service.system
    h = service.health()
    stats = service.stats.snapshot()
    members = clf.collection_.members
    out = [f"<h1>riscmoe system: {len(members)} members, {len(clf.labels_)} labels</h1>",
           f"<p id='summary'>{clf.n_seen_} examples learned; feedback records accepted {h['accepted_seq']}, learned "
           f"{h['learned_seq']}, served {h['served_seq']} ({h['pending']} pending, learning {h['learn']}); "
           f"{stats['requests']} predict requests, {stats['inputs']} inputs answered since start.</p>"]
    out.append("<h2 id='members'>Members</h2>")
    out.append(_members_picture(clf))
    out.append(_members_table(service, clf, number, token))
    out.append("<h2 id='routing'>Routing of the last answers</h2>")
    out.append(_routing(stats["routing"], clf))
    out.append("<h2 id='accuracy'>Accuracy from feedback over time</h2>")
    out.append(_accuracy(stats["accuracy"]))
    out.append("<h2 id='archive'>Archive by kind</h2>")
    out.append(_bars(clf.archive_.counts_by_kind(), "archive-chart"))
    out.append("<h2 id='cost'>Cost per input</h2>")
    out.append(_cost(clf.cost_per_input_, stats["timing"]))
    return "\n".join(out)


def _members_picture(clf: Any) -> str:
    members = clf.collection_.members
    if not members:
        return "<p class='note'>no members yet</p>"
    step = max(1, math.ceil(len(members) / MAX_POINTS))
    shown = members[::step]
    W, H, pad = 720, 260, 40
    xs = [m.created_at for m in shown]
    ys = [math.log10(max(1, m.n_positive)) for m in shown]
    x0, x1 = min(xs), max(xs) or 1
    y1 = max(ys) or 1
    sx = lambda v: pad + (W - 2 * pad) * ((v - x0) / (x1 - x0) if x1 > x0 else 0.5)
    sy = lambda v: H - pad - (H - 2 * pad) * (v / y1)
    dots = "".join(f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='3' fill='{COLOURS[m.label % len(COLOURS)]}'>"
                   f"<title>member {m.index}: label {_e(clf.labels_[m.label])}, {m.n_positive} examples</title></circle>"
                   for m, x, y in zip(shown, xs, ys))
    ticks = "".join(f"<text x='{pad - 6}' y='{sy(t) + 4:.1f}' text-anchor='end' font-size='10'>{10 ** t:g}</text>"
                    for t in range(0, int(y1) + 1))
    note = f" (every {step}th of {len(members)} drawn)" if step > 1 else ""
    return (f"<svg id='members-chart' width='{W}' height='{H}' role='img' aria-label='members'>"
            f"<line x1='{pad}' y1='{H - pad}' x2='{W - pad}' y2='{H - pad}' stroke='#999'/>"
            f"<line x1='{pad}' y1='{pad}' x2='{pad}' y2='{H - pad}' stroke='#999'/>{ticks}{dots}"
            f"<text x='{W / 2}' y='{H - 8}' text-anchor='middle' font-size='11'>made after this many examples "
            f"({x0} to {x1})</text>"
            f"<text x='12' y='{H / 2}' font-size='11' transform='rotate(-90 12 {H / 2})' text-anchor='middle'>examples held (log)</text>"
            f"</svg><p class='note'>each dot a member, coloured by label{note}</p>")


def _members_table(service: Any, clf: Any, number: int, token: str | None) -> str:
    total = len(clf.collection_.members)
    pages = max(1, math.ceil(total / PER_PAGE))
    number = min(number, pages)
    rows = service.members((number - 1) * PER_PAGE, PER_PAGE)["members"]
    body = "".join(
        f"<tr><td>{r['index']}</td><td class='l'>{_e(r['label'])}</td><td>{r['examples']}</td><td>{r['refused']}</td>"
        f"<td>{_border(r['border'])}</td>"
        f"<td>{r['answered']}</td><td>{r['made_at']}</td><td class='l'>{_e(r['reason'])}</td></tr>" for r in rows)
    nav = []
    if number > 1:
        nav.append(f"<a id='prev' href='{_e(_link(number - 1, token))}'>previous</a>")
    nav.append(f"page {number} of {pages}")
    if number < pages:
        nav.append(f"<a id='next' href='{_e(_link(number + 1, token))}'>next</a>")
    return (f"<table id='members-table'><thead><tr><th>member</th><th class='l'>label</th><th>examples</th><th>refused</th>"
            f"<th>border</th><th>answered</th><th>made at</th><th class='l'>why</th></tr></thead><tbody>{body}</tbody></table>"
            f"<p class='nav'>{' '.join(nav)}</p>")


def _border(b: list[float] | None) -> str:
    return "-" if b is None else f"{b[0]:.2f}x{b[1]:+.2f}"


def _routing(routing: list[tuple[Any, int]], clf: Any) -> str:
    if not routing:
        return "<p class='note' id='routing-chart'>no answers yet</p>"
    counts: dict[tuple[str, int], int] = {}
    per_member: dict[int, int] = {}
    for label, member in routing:
        counts[(str(label), member)] = counts.get((str(label), member), 0) + 1
        per_member[member] = per_member.get(member, 0) + 1
    top = sorted(per_member, key=lambda m: (-per_member[m], m))[:TOP_MEMBERS]
    cols = sorted(top) + (["other"] if len(per_member) > len(top) else [])
    labels = sorted({str(l) for l, _ in routing})
    cell: dict[tuple[str, Any], int] = {}
    for (label, member), n in counts.items():
        key = (label, member if member in top else "other")
        cell[key] = cell.get(key, 0) + n
    peak = max(cell.values())
    cw, ch, left, topm = 26, 18, 70, 40
    W, H = left + cw * len(cols) + 10, topm + ch * len(labels) + 10
    parts = []
    for j, c in enumerate(cols):
        name = "none" if c == -1 else c
        parts.append(f"<text x='{left + j * cw + cw / 2}' y='{topm - 6}' font-size='10' text-anchor='middle'>{_e(name)}</text>")
    for i, lab in enumerate(labels):
        parts.append(f"<text x='{left - 6}' y='{topm + i * ch + 13}' font-size='10' text-anchor='end'>"
                     f"{_e('unknown' if lab == 'None' else lab)}</text>")
        for j, c in enumerate(cols):
            n = cell.get((lab, c), 0)
            if n:
                shade = 0.15 + 0.85 * n / peak
                parts.append(f"<rect x='{left + j * cw}' y='{topm + i * ch}' width='{cw - 2}' height='{ch - 2}' "
                             f"fill='#1f77b4' fill-opacity='{shade:.2f}'><title>{n} answers of label {_e(lab)} by member "
                             f"{_e(c)}</title></rect>")
    return (f"<svg id='routing-chart' width='{W}' height='{H}' role='img' aria-label='routing'>"
            f"<text x='{left}' y='14' font-size='11'>member (columns) by label answered (rows)</text>{''.join(parts)}</svg>"
            f"<p class='note'>the last {len(routing)} answers; the {len(top)} busiest members of {len(per_member)}"
            f"{', the rest pooled' if len(cols) > len(top) else ''}; 'none' answered unknown</p>")


def _accuracy(accuracy: list[tuple[float, int, int]]) -> str:
    total = sum(n for _, _, n in accuracy)
    if not total:
        return "<p class='note' id='accuracy-chart'>no feedback on answers yet</p>"
    bins = min(60, len(accuracy))
    size = math.ceil(len(accuracy) / bins)
    points = []
    for i in range(0, len(accuracy), size):
        chunk = accuracy[i: i + size]
        n = sum(c[2] for c in chunk)
        points.append((chunk[-1][0], sum(c[1] for c in chunk) / n if n else 0.0, n))
    W, H, pad = 720, 200, 40
    t0, t1 = points[0][0], points[-1][0]
    sx = lambda t: pad + (W - 2 * pad) * ((t - t0) / (t1 - t0) if t1 > t0 else 0.5)
    sy = lambda a: H - pad - (H - 2 * pad) * a
    path = " ".join(f"{'M' if i == 0 else 'L'}{sx(t):.1f},{sy(a):.1f}" for i, (t, a, _) in enumerate(points))
    dots = "".join(f"<circle cx='{sx(t):.1f}' cy='{sy(a):.1f}' r='2.5' fill='#2ca02c'><title>{a * 100:.1f}% of {n}</title></circle>"
                   for t, a, n in points)
    grid = "".join(f"<text x='{pad - 6}' y='{sy(v) + 4:.1f}' font-size='10' text-anchor='end'>{int(v * 100)}%</text>"
                   f"<line x1='{pad}' x2='{W - pad}' y1='{sy(v):.1f}' y2='{sy(v):.1f}' stroke='#eee'/>" for v in (0, 0.5, 1))
    right = sum(r for _, r, _ in accuracy)
    return (f"<svg id='accuracy-chart' width='{W}' height='{H}' role='img' aria-label='accuracy'>{grid}"
            f"<path d='{path}' fill='none' stroke='#2ca02c' stroke-width='1.5'/>{dots}"
            f"<text x='{W / 2}' y='{H - 8}' font-size='11' text-anchor='middle'>time ({(t1 - t0):.0f} s shown)</text></svg>"
            f"<p class='note'>{right} of {total} answers given feedback were right ({right / total * 100:.1f}%), "
            f"in {len(points)} groups of feedback records</p>")


def _bars(counts: dict[str, int], ident: str) -> str:
    items = [(k, v) for k, v in counts.items()]
    if not items:
        return f"<p class='note' id='{ident}'>empty</p>"
    peak = max(v for _, v in items) or 1
    W, bh, left = 520, 20, 110
    parts = []
    for i, (k, v) in enumerate(items):
        w = (W - left - 60) * v / peak
        parts.append(f"<text x='{left - 6}' y='{i * bh + 15}' font-size='11' text-anchor='end'>{_e(k)}</text>"
                     f"<rect x='{left}' y='{i * bh + 3}' width='{w:.1f}' height='{bh - 6}' fill='#9467bd'/>"
                     f"<text x='{left + w + 4:.1f}' y='{i * bh + 15}' font-size='11'>{v}</text>")
    return f"<svg id='{ident}' width='{W}' height='{bh * len(items) + 6}' role='img'>{''.join(parts)}</svg>"


def _cost(cost: dict[str, float], timing: list[tuple[int, float, float, float, float]]) -> str:
    rows = [("encoder", cost.get("encoder_macs", 0)), ("all meta-models", cost.get("meta_bank_macs", 0)),
            ("one member's model", cost.get("one_model_macs", 0))]
    n = sum(t[0] for t in timing)
    measured = {}
    if n:
        for j, name in ((1, "encoder"), (2, "all meta-models"), (3, "models run")):
            measured[name] = sum(t[j] for t in timing) / n * 1e3
        measured["whole request"] = sum(t[4] for t in timing) / n * 1e3
    body = "".join(f"<tr><td class='l'>{_e(k)}</td><td>{v / 1e3:.1f}k</td><td>{f'{measured[k]:.3f}' if k in measured else '-'}</td></tr>"
                   for k, v in rows)
    body += "".join(f"<tr><td class='l'>{k}</td><td>-</td><td>{measured[k]:.3f}</td></tr>" for k in ("models run", "whole request")
                    if k in measured)
    return (f"<table id='cost-table'><thead><tr><th class='l'>part</th><th>multiply-adds per input</th>"
            f"<th>ms per input (last {len(timing)} requests)</th></tr></thead><tbody>{body}</tbody></table>")


# ------------------------------------------------------------------ functions
def _functions(service: Any, number: int, token: str | None) -> str:
    h = service.health()
    pages = max(1, math.ceil(h["members"] / PER_PAGE))
    number = min(number, pages)
    rows = service.members((number - 1) * PER_PAGE, PER_PAGE)["members"]
    body = "".join(f"<tr><td class='l'>{_e(r['name'])}</td><td class='l'>{_e(r['signature'])}</td><td>{r['uses']}</td>"
                   f"<td>{r['confirmed']}</td><td>{r['refuted']}</td><td class='l'>{_e(r['provenance'])}</td></tr>" for r in rows)
    nav = []
    if number > 1:
        nav.append(f"<a id='prev' href='{_e(_link(number - 1, token))}'>previous</a>")
    nav.append(f"page {number} of {pages}")
    if number < pages:
        nav.append(f"<a id='next' href='{_e(_link(number + 1, token))}'>next</a>")
    stats = service.stats_snapshot()
    return (f"<h1>riscmoe functions library: {h['members']} functions</h1>"
            f"<p id='summary'>{stats['tasks']} tasks solved since start: {stats['by_status']}</p>"
            f"<h2 id='members'>Functions</h2><table id='members-table'><thead><tr><th class='l'>name</th><th class='l'>signature</th>"
            f"<th>uses</th><th>confirmed</th><th>refuted</th><th class='l'>made by</th></tr></thead><tbody>{body}</tbody></table>"
            f"<p class='nav'>{' '.join(nav)}</p><h2 id='archive'>Answers by status</h2>{_bars(stats['by_status'], 'archive-chart')}")
