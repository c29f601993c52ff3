"""The report's building block: titled tables of text cells, some shaded (a heat map) or
flagged. Task types return tables; the Markdown and HTML renderers know nothing else."""

from __future__ import annotations

from evaluation.stats import Difference, Rate
from schemas._base import StrictModel
from schemas.evaluation import Interval


class TableCell(StrictModel):
    text: str
    heat: float | None = None  # 0-1: the HTML page shades the cell (a heat map)
    flag: str | None = None  # why this cell needs a second look (shown as a marker)
    key: str | None = None  # "<scenario>|<variant>": the HTML page links its example answers


class Table(StrictModel):
    title: str
    columns: list[str]
    rows: list[list[TableCell]]
    note: str = ""
    heat_map: bool = False  # the HTML page shades its cells and links example answers


def fmt_rate(rate: Rate | None) -> str:
    if rate is None or rate.rate is None:
        return "-"
    assert rate.low is not None and rate.high is not None
    return f"{rate.rate:.1%} [{rate.low:.1%}, {rate.high:.1%}] ({rate.k}/{rate.n})"


def fmt_diff(diff: Difference) -> str:
    if diff.value is None:
        return "-"
    return f"{diff.value:+.1%} [{diff.low:+.1%}, {diff.high:+.1%}]"


def fmt_interval(value: Interval, digits: int = 3) -> str:
    if value.value is None:
        return "-"
    if value.low is None or value.high is None:  # no resample defined it
        return f"{value.value:.{digits}f}"
    return f"{value.value:.{digits}f} [{value.low:.{digits}f}, {value.high:.{digits}f}]"


def text(value: object) -> TableCell:
    return TableCell(text="-" if value is None else str(value))


def rate_cell(rate: Rate | None, heat: bool = False) -> TableCell:
    return TableCell(text=fmt_rate(rate), heat=rate.rate if heat and rate is not None else None)
