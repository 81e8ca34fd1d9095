"""The `policyc eval --report` plots as self-made SVG: plain text, no plotting library.

Two kinds, enough for the report: `line_chart` (rates against a threshold, with marked
thresholds) and `heatmap` (a count matrix with its numbers in the cells). The output is
deterministic (the same input gives the same bytes) and self-contained (no fonts,
scripts or external references), so a browser shows it inline or from `<img src>`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"
CHAR_W = 6.6  # approximate width of a character at font size 11, for layout only


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]  # one per x; None leaves a gap
    color: str


@dataclass(frozen=True)
class Marker:
    """A vertical line at `x`, e.g. a threshold."""

    x: float
    label: str
    color: str
    dash: str  # SVG stroke-dasharray, "" for solid


def _n(x: float) -> str:
    """A coordinate with at most two decimals, no trailing zeros."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text(x: float, y: float, s: str, size: int = 11, anchor: str = "start",
          extra: str = "") -> str:
    return (f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size}" text-anchor="{anchor}"'
            f"{extra}>{escape(s)}</text>")


def _document(width: float, height: float, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(width)}" '
            f'height="{_n(height)}" viewBox="0 0 {_n(width)} {_n(height)}" '
            f'style="{FONT}">\n<title>{escape(title)}</title>\n'
            f'<rect width="100%" height="100%" fill="white"/>\n'
            + "\n".join(body) + "\n</svg>\n")


def line_chart(xs: Sequence[float], series: Sequence[Series], markers: Sequence[Marker],
               title: str, xlabel: str, ylabel: str, width: int = 520,
               height: int = 340) -> str:
    """Lines over x in [0, 1] and y in [0, 1] (rates), with vertical markers and a legend."""
    left, right, top, bottom = 50.0, 15.0, 28.0, 42.0
    pw, ph = width - left - right, height - top - bottom
    y_lo, y_hi = -0.02, 1.02

    def px(x: float) -> float:
        return left + pw * x

    def py(y: float) -> float:
        return top + ph * (y_hi - y) / (y_hi - y_lo)

    body = [_text(width / 2, 17, title, 12, "middle")]
    for i in range(6):  # grid and ticks every 0.2 on both axes
        v = i / 5
        body.append(f'<line x1="{_n(px(v))}" y1="{_n(top)}" x2="{_n(px(v))}" '
                    f'y2="{_n(top + ph)}" stroke="#ddd" stroke-width="1"/>')
        body.append(f'<line x1="{_n(left)}" y1="{_n(py(v))}" x2="{_n(left + pw)}" '
                    f'y2="{_n(py(v))}" stroke="#ddd" stroke-width="1"/>')
        body.append(_text(px(v), top + ph + 14, f"{v:.1f}", 10, "middle"))
        body.append(_text(left - 5, py(v) + 3.5, f"{v:.1f}", 10, "end"))
    body.append(f'<rect x="{_n(left)}" y="{_n(top)}" width="{_n(pw)}" height="{_n(ph)}" '
                f'fill="none" stroke="#444" stroke-width="1"/>')
    body.append(_text(left + pw / 2, height - 8, xlabel, 11, "middle"))
    body.append(_text(14, top + ph / 2, ylabel, 11, "middle",
                      f' transform="rotate(-90 14 {_n(top + ph / 2)})"'))
    for s in series:
        run: list[str] = []
        runs: list[list[str]] = []
        for x, y in zip(xs, s.values, strict=True):
            if y is None or math.isnan(y):
                if run:
                    runs.append(run)
                run = []
            else:
                run.append(f"{_n(px(x))},{_n(py(y))}")
        if run:
            runs.append(run)
        for points in runs:
            body.append(f'<polyline points="{" ".join(points)}" fill="none" '
                        f'stroke="{s.color}" stroke-width="1.8"/>')
    for m in markers:
        dash = f' stroke-dasharray="{m.dash}"' if m.dash else ""
        body.append(f'<line x1="{_n(px(m.x))}" y1="{_n(top)}" x2="{_n(px(m.x))}" '
                    f'y2="{_n(top + ph)}" stroke="{m.color}" stroke-width="1.4"{dash}/>')
    entries = [(s.label, s.color, "") for s in series] + \
        [(m.label, m.color, m.dash) for m in markers]
    if entries:  # legend, right-aligned inside the plot, vertically centred
        box_w = 34 + CHAR_W * max(len(label) for label, _, _ in entries)
        box_h = 8 + 15 * len(entries)
        x0, y0 = left + pw - box_w - 6, top + (ph - box_h) / 2
        body.append(f'<rect x="{_n(x0)}" y="{_n(y0)}" width="{_n(box_w)}" '
                    f'height="{_n(box_h)}" fill="white" fill-opacity="0.85" stroke="#bbb"/>')
        for i, (label, color, dash) in enumerate(entries):
            y = y0 + 12 + 15 * i
            d = f' stroke-dasharray="{dash}"' if dash else ""
            body.append(f'<line x1="{_n(x0 + 6)}" y1="{_n(y - 3.5)}" x2="{_n(x0 + 26)}" '
                        f'y2="{_n(y - 3.5)}" stroke="{color}" stroke-width="1.8"{d}/>')
            body.append(_text(x0 + 30, y, label, 10))
    return _document(width, height, title, body)


def _blue(t: float) -> str:
    """A colour from white-ish (t = 0) to dark blue (t = 1)."""
    lo, hi = (0xF7, 0xFB, 0xFF), (0x08, 0x30, 0x6B)
    r, g, b = (round(a + (c - a) * t) for a, c in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(rows: Sequence[str], cols: Sequence[str], matrix: Sequence[Sequence[int]],
            title: str, xlabel: str, ylabel: str) -> str:
    """A count matrix: one shaded cell per (row, column) with its number."""
    cell_w, cell_h = 74.0, 30.0
    left = 34 + CHAR_W * max((len(r) for r in rows), default=1)
    top = 30.0
    col_h = 12 + 0.5 * CHAR_W * max((len(c) for c in cols), default=1)  # labels at -30°
    width = left + cell_w * len(cols) + 15
    height = top + cell_h * len(rows) + col_h + 24
    peak = max((v for row in matrix for v in row), default=0)
    body = [_text(width / 2, 18, title, 12, "middle")]
    for i, (name, row) in enumerate(zip(rows, matrix, strict=True)):
        y = top + cell_h * i
        body.append(_text(left - 6, y + cell_h / 2 + 4, name, 11, "end"))
        for j, v in enumerate(row):
            x = left + cell_w * j
            t = v / peak if peak else 0.0
            body.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(cell_w)}" '
                        f'height="{_n(cell_h)}" fill="{_blue(t)}" stroke="white"/>')
            color = "white" if peak and v > peak / 2 else "black"
            body.append(_text(x + cell_w / 2, y + cell_h / 2 + 4, str(v), 11, "middle",
                              f' fill="{color}"'))
    base = top + cell_h * len(rows)
    for j, name in enumerate(cols):
        x, y = left + cell_w * (j + 0.5), base + 14
        body.append(_text(x, y, name, 11, "end", f' transform="rotate(-30 {_n(x)} {_n(y)})"'))
    body.append(_text(left + cell_w * len(cols) / 2, height - 8, xlabel, 11, "middle"))
    mid = top + cell_h * len(rows) / 2
    body.append(_text(12, mid, ylabel, 11, "middle", f' transform="rotate(-90 12 {_n(mid)})"'))
    return _document(width, height, title, body)
