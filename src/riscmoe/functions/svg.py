"""A small SVG chart writer for the functions report: panels of lines, steps and dots.

The report of ``riscmoe functions solve`` is drawn here rather than with matplotlib:
importing matplotlib and rasterising three panels costs about a second, which is most of
the wall time of a run answered by reuse. SVG is text, opens in any browser, and scales.

A :class:`Panel` holds series in data coordinates; :func:`write_svg` lays out panels side
by side with axes, ticks, a title and a legend each, and writes the file atomically.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

PALETTE = {"blue": "#1f77b4", "orange": "#ff7f0e", "green": "#2ca02c", "red": "#d62728", "grey": "#7f7f7f"}


@dataclass
class Series:
    """One series: ``kind`` is ``line``, ``step`` (post) or ``dots``; ``colours`` per point for dots."""

    x: list[float]
    y: list[float]
    kind: str = "line"
    colour: str = PALETTE["blue"]
    label: str | None = None
    colours: list[str] | None = None


@dataclass
class Panel:
    """One chart: title, axis labels, optional fixed y range, log-scaled y if ``log_y``."""

    title: str
    xlabel: str
    ylabel: str
    series: list[Series] = field(default_factory=list)
    ylim: tuple[float, float] | None = None
    log_y: bool = False
    legend: list[tuple[str, str]] = field(default_factory=list)  # extra (label, colour) entries
    legend_at: str = "top"  # or "bottom": the corner (left) where the legend sits

    def add(self, *args, **kwargs) -> Panel:
        self.series.append(Series(*args, **kwargs))
        return self


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi], about ``n`` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"axis range must be finite, got [{lo}, {hi}]")
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], first
    while t <= hi + 1e-9 * step:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _fmt(v: float) -> str:
    if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-3):
        return f"{v:.0e}"
    return f"{v:g}"


def _panel_svg(p: Panel, ox: float, oy: float, w: float, h: float) -> list[str]:
    left, right, top, bottom = 58.0, 12.0, 28.0, 42.0
    pw, ph = w - left - right, h - top - bottom
    xs = [x for s in p.series for x in s.x]
    ys = [y for s in p.series for y in s.y]
    if p.log_y:
        if any(y <= 0 for y in ys):
            raise ValueError(f"panel {p.title!r}: a log-scaled axis needs positive values")
        ys = [math.log10(y) for y in ys]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if p.ylim is not None:
        y0, y1 = (math.log10(p.ylim[0]), math.log10(p.ylim[1])) if p.log_y else p.ylim
    elif ys:
        y0, y1 = min(ys), max(ys)
        pad = 0.05 * (y1 - y0) if y1 > y0 else max(1.0, 0.05 * abs(y0))
        y0, y1 = y0 - pad, y1 + pad
        if p.log_y:
            y0, y1 = math.floor(y0), math.ceil(y1)
    else:
        y0, y1 = 0.0, 1.0
    if x1 <= x0:
        x1 = x0 + 1.0
    if y1 <= y0:
        y1 = y0 + 1.0

    def X(v: float) -> float:
        return ox + left + (v - x0) / (x1 - x0) * pw

    def Y(v: float) -> float:
        v = math.log10(v) if p.log_y else v
        return oy + top + (1 - (v - y0) / (y1 - y0)) * ph

    out = [f'<text x="{ox + left + pw / 2:.1f}" y="{oy + 17:.1f}" text-anchor="middle" font-size="13">{escape(p.title)}</text>',
           f'<rect x="{ox + left:.1f}" y="{oy + top:.1f}" width="{pw:.1f}" height="{ph:.1f}" fill="none" stroke="#333"/>']
    for t in nice_ticks(x0, x1, 6):
        out.append(f'<line x1="{X(t):.1f}" y1="{oy + top + ph:.1f}" x2="{X(t):.1f}" y2="{oy + top + ph + 4:.1f}" stroke="#333"/>')
        out.append(f'<text x="{X(t):.1f}" y="{oy + top + ph + 16:.1f}" text-anchor="middle" font-size="10">{_fmt(t)}</text>')
    yticks = [10.0 ** e for e in range(int(y0), int(y1) + 1)] if p.log_y else nice_ticks(y0, y1, 5)
    for t in yticks:
        y = Y(t)
        out.append(f'<line x1="{ox + left:.1f}" y1="{y:.1f}" x2="{ox + left + pw:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{ox + left - 5:.1f}" y="{y + 3.5:.1f}" text-anchor="end" font-size="10">{_fmt(t)}</text>')
    out.append(f'<text x="{ox + left + pw / 2:.1f}" y="{oy + h - 8:.1f}" text-anchor="middle" font-size="11">{escape(p.xlabel)}</text>')
    cy = oy + top + ph / 2
    out.append(f'<text x="{ox + 14:.1f}" y="{cy:.1f}" text-anchor="middle" font-size="11" '
               f'transform="rotate(-90 {ox + 14:.1f} {cy:.1f})">{escape(p.ylabel)}</text>')
    legend: list[tuple[str, str]] = []
    for s in p.series:
        if len(s.x) != len(s.y):
            raise ValueError(f"panel {p.title!r}: series {s.label!r} has {len(s.x)} x values and {len(s.y)} y values")
        if s.kind == "dots":
            colours = s.colours or [s.colour] * len(s.x)
            out += [f'<circle cx="{X(a):.1f}" cy="{Y(b):.1f}" r="2.2" fill="{c}"/>' for a, b, c in zip(s.x, s.y, colours)]
        elif s.x:
            pts = []
            for i, (a, b) in enumerate(zip(s.x, s.y)):
                if s.kind == "step" and i:
                    pts.append(f"{X(a):.1f},{Y(s.y[i - 1]):.1f}")
                pts.append(f"{X(a):.1f},{Y(b):.1f}")
            out.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{s.colour}" stroke-width="1.6"/>')
        elif s.kind not in ("line", "step"):
            raise ValueError(f"unknown series kind {s.kind!r}")
        if s.label:
            legend.append((s.label, s.colour))
    entries = legend + p.legend
    for i, (label, colour) in enumerate(entries):
        ly = oy + top + 12 + 14 * i if p.legend_at == "top" else oy + top + ph - 8 - 14 * (len(entries) - 1 - i)
        out.append(f'<rect x="{ox + left + 8:.1f}" y="{ly - 7:.1f}" width="10" height="8" fill="{colour}"/>')
        out.append(f'<text x="{ox + left + 22:.1f}" y="{ly:.1f}" font-size="10">{escape(label)}</text>')
    return out


def render(panels: list[Panel], width: float = 420.0, height: float = 300.0) -> str:
    """The SVG document with ``panels`` side by side, each ``width`` x ``height`` pixels."""
    if not panels:
        raise ValueError("nothing to draw: no panels")
    total = width * len(panels)
    body = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {total:.0f} {height:.0f}" font-family="DejaVu Sans, Arial, sans-serif">',
            f'<rect width="{total:.0f}" height="{height:.0f}" fill="white"/>']
    for i, p in enumerate(panels):
        body += _panel_svg(p, i * width, 0.0, width, height)
    body.append("</svg>")
    return "\n".join(body) + "\n"


def write_svg(path: str | Path, panels: list[Panel], **kwargs) -> None:
    """Render ``panels`` and write them to ``path`` through a temporary file and a rename."""
    path = Path(path)
    text = render(panels, **kwargs)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
