import math
import xml.etree.ElementTree as ET

import pytest

from riscmoe.functions.svg import Panel, nice_ticks, render, write_svg

NS = "{http://www.w3.org/2000/svg}"


def test_nice_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0, 1, 5) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = nice_ticks(3, 129, 6)
    assert ticks[0] >= 3 and ticks[-1] <= 129 and ticks == sorted(ticks)
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert steps == {25.0} and all(t % 25 == 0 for t in ticks)
    with pytest.raises(ValueError, match="finite"):
        nice_ticks(0, math.nan)


def test_render_places_points_inside_the_plot_area_and_writes_atomically(tmp_path):
    p = Panel("growth", "task", "size").add([0, 1, 2, 3], [10, 12, 12, 15], kind="step", label="stored")
    q = Panel("time", "task", "seconds", log_y=True, legend=[("reused", "#2ca02c")])
    q.add([1, 2, 3], [0.001, 0.5, 2.0], kind="dots", colours=["#2ca02c", "#1f77b4", "#d62728"])
    write_svg(tmp_path / "r.svg", [p, q])
    root = ET.parse(tmp_path / "r.svg").getroot()
    assert root.get("width") == "840"
    frames = [r for r in root.iter(NS + "rect") if r.get("stroke") == "#333"]
    dots = list(root.iter(NS + "circle"))
    assert len(frames) == 2 and len(dots) == 3
    f = frames[1]
    x0, y0 = float(f.get("x")), float(f.get("y"))
    x1, y1 = x0 + float(f.get("width")), y0 + float(f.get("height"))
    for d in dots:
        assert x0 <= float(d.get("cx")) <= x1 and y0 <= float(d.get("cy")) <= y1
    # log axis: higher values are higher on the page (smaller y)
    cys = [float(d.get("cy")) for d in dots]
    assert cys[0] > cys[1] > cys[2]
    texts = [t.text for t in root.iter(NS + "text")]
    assert "stored" in texts and "reused" in texts and "0.001" in texts
    step = next(root.iter(NS + "polyline")).get("points").split()
    assert len(step) == 4 + 3  # a step adds a corner before each point after the first
    assert not list(tmp_path.glob("*.tmp"))


def test_bad_series_are_refused():
    with pytest.raises(ValueError, match="positive"):
        render([Panel("t", "x", "y", log_y=True).add([1, 2], [0.0, 1.0], kind="dots")])
    with pytest.raises(ValueError, match="2 x values and 1 y values"):
        render([Panel("t", "x", "y").add([1, 2], [1.0])])
    with pytest.raises(ValueError, match="no panels"):
        render([])
