"""The run chart: one bar per result, its height the run's duration.

Computed here and drawn as SVG by the import page's template, so the
browser needs no script.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta

from codeimport.enums import CodeImportResultStatus as Status
from codeimport.scripts.status import format_duration

__all__ = ["Bar", "Chart", "outcome", "run_chart"]

WIDTH = 720
HEIGHT = 180
MARGIN_LEFT = 56
MARGIN_BOTTOM = 24
MAX_BARS = 60


def outcome(status) -> str:
    """The CSS class of a result status: success, nochange, partial,
    failure or reclaimed."""
    if status == Status.SUCCESS:
        return "success"
    if status == Status.SUCCESS_NOCHANGE:
        return "nochange"
    if status == Status.SUCCESS_PARTIAL:
        return "partial"
    if status in (Status.RECLAIMED, Status.KILLED):
        return "reclaimed"
    return "failure"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    outcome: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = MARGIN_LEFT
    bottom: int = HEIGHT - MARGIN_BOTTOM
    bars: list = field(default_factory=list)
    top_label: str = ""
    first_label: str = ""
    last_label: str = ""


def run_chart(results) -> Chart:
    """Chart the newest `MAX_BARS` of `results` (newest first), oldest
    on the left."""
    runs = [
        (r.date_job_started, r.date_job_finished, r.status)
        for r in list(results)[:MAX_BARS]
    ][::-1]
    if not runs:
        return Chart()
    seconds = [max(0.0, (end - start).total_seconds())
               for start, end, _ in runs]
    top = max(max(seconds), 1.0)
    plot_width = WIDTH - MARGIN_LEFT - 8
    plot_height = HEIGHT - MARGIN_BOTTOM - 8
    step = plot_width / max(len(runs), 8)
    bars = []
    for index, ((start, end, status), took) in enumerate(zip(runs, seconds)):
        height = max(2.0, plot_height * took / top)
        bars.append(Bar(
            x=round(MARGIN_LEFT + index * step + step * 0.15, 1),
            y=round(HEIGHT - MARGIN_BOTTOM - height, 1),
            width=round(step * 0.7, 1), height=round(height, 1),
            outcome=outcome(status),
            title=f"{end:%Y-%m-%d %H:%M:%S} {status.name}, took "
                  f"{format_duration(end - start)}"))
    return Chart(
        bars=bars, top_label=format_duration_seconds(top),
        first_label=f"{runs[0][1]:%Y-%m-%d %H:%M}",
        last_label=f"{runs[-1][1]:%Y-%m-%d %H:%M}")


def format_duration_seconds(seconds: float) -> str:
    return format_duration(timedelta(seconds=seconds))
