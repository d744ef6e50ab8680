"""Geometry of the dashboard's trend charts, drawn as server-rendered SVG by ``inc/chart_*.html``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WIDTH = 640
HEIGHT = 180
LEFT = 44  # room for the y-axis labels
BOTTOM = 22  # room for the x-axis labels
TOP = 10
RIGHT = 8


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str
    empty: bool


@dataclass
class Chart:
    """One chart: bars (success rate) or a polyline with dots (mean duration), plus axis labels."""

    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)  # polyline point lists, broken where a day has no runs
    dots: list[dict[str, Any]] = field(default_factory=list)
    y_labels: list[dict[str, Any]] = field(default_factory=list)
    x_labels: list[dict[str, Any]] = field(default_factory=list)
    plot: dict[str, float] = field(default_factory=dict)
    summary: str = ""


def _frame(chart: Chart) -> tuple[float, float]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    chart.plot = {"x": LEFT, "y": TOP, "w": plot_w, "h": plot_h, "bottom": TOP + plot_h}
    return plot_w, plot_h


def _x_labels(chart: Chart, days: list[dict[str, Any]], slot: float) -> None:
    step = 1 if len(days) <= 7 else 7
    for index in range(0, len(days), step):
        chart.x_labels.append({"x": LEFT + slot * index + slot / 2, "text": days[index]["day"].strftime("%b %d")})


def success_chart(days: list[dict[str, Any]]) -> Chart:
    """One bar per day: the share of finished runs that succeeded (a faint stub for days without runs)."""
    chart = Chart()
    plot_w, plot_h = _frame(chart)
    slot = plot_w / max(len(days), 1)
    width = max(slot * 0.7, 2)
    for index, day in enumerate(days):
        x = LEFT + slot * index + (slot - width) / 2
        if day["total"]:
            rate = day["ok"] / day["total"]
            height = max(plot_h * rate, 1.5)
            title = f"{day['day']:%b %d}: {rate:.0%} of {day['total']} run{'s' if day['total'] != 1 else ''} succeeded"
            chart.bars.append(Bar(x, TOP + plot_h - height, width, height, title, False))
        else:
            chart.bars.append(Bar(x, TOP + plot_h - 2, width, 2, f"{day['day']:%b %d}: no finished runs", True))
    for percent in (0, 50, 100):
        chart.y_labels.append({"y": TOP + plot_h - plot_h * percent / 100, "text": f"{percent}%"})
    _x_labels(chart, days, slot)
    total = sum(d["total"] for d in days)
    ok = sum(d["ok"] for d in days)
    plural = "" if total == 1 else "s"
    chart.summary = f"{ok / total:.0%} of {total} run{plural} succeeded" if total else "no finished runs"
    return chart


def _seconds_text(value: float) -> str:
    if value >= 3600:
        return f"{value / 3600:.1f}h"
    if value >= 60:
        return f"{value / 60:.1f}m"
    return f"{value:.1f}s" if value < 10 else f"{value:.0f}s"


def duration_chart(days: list[dict[str, Any]]) -> Chart:
    """Mean run duration per day as a line (broken over days without runs)."""
    chart = Chart()
    plot_w, plot_h = _frame(chart)
    slot = plot_w / max(len(days), 1)
    values = [d["mean_seconds"] for d in days if d["mean_seconds"] is not None]
    top = max(values, default=0.0) or 1.0
    current: list[str] = []
    for index, day in enumerate(days):
        mean = day["mean_seconds"]
        if mean is None:
            if current:
                chart.segments.append(" ".join(current))
                current = []
            continue
        x, y = LEFT + slot * index + slot / 2, TOP + plot_h - plot_h * mean / top
        current.append(f"{x:.1f},{y:.1f}")
        chart.dots.append({"x": x, "y": y, "title": f"{day['day']:%b %d}: mean {_seconds_text(mean)}"})
    if current:
        chart.segments.append(" ".join(current))
    for fraction in (0, 0.5, 1):
        chart.y_labels.append({"y": TOP + plot_h - plot_h * fraction, "text": _seconds_text(top * fraction)})
    _x_labels(chart, days, slot)
    chart.summary = f"mean {_seconds_text(sum(values) / len(values))}" if values else "no finished runs"
    return chart
