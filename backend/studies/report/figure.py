"""Each cell's mean with its 95 % interval as a dot-and-whisker SVG, written by hand from the /stats body.

Why not Plotly's static export: it needs kaleido, which drives a headless browser, and the API process stays
small and starts none. The figure is plain SVG 1.1 with its own <title>s, so it opens in a browser, Inkscape or
LaTeX's svg package, and reads the same as the page's chart: one row per cell, the baseline's mean dashed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

WIDTH = 760
ROW = 30
TOP, BOTTOM, RIGHT = 40, 48, 24
CHAR = 7.0  # px per character of 12 px sans-serif, near enough to size the label column
MAX_LABEL = 44  # characters; a longer key is cut with an ellipsis, the whole key in its <title>
DOT, BASE_DOT, LINE = "#2563eb", "#b45309", "#1b1f24"


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """About `count` round ticks (1, 2 or 5 × 10^k apart) covering [low, high]."""
    if high <= low:
        low, high = low - 0.05 * (abs(low) or 1), high + 0.05 * (abs(high) or 1)
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    ticks = [round(math.floor(low / step) * step, 12)]
    while ticks[-1] < high - step * 1e-9 or len(ticks) < 2:  # the last tick at or past `high`
        ticks.append(round(ticks[0] + len(ticks) * step, 12))
    return ticks


def _label(key: str) -> str:
    return key if len(key) <= MAX_LABEL else key[:MAX_LABEL - 1] + "…"


def _extent(cells: Sequence[Mapping[str, Any]]) -> list[float]:
    points = []
    for cell in cells:
        if cell.get("mean") is not None:
            points.append(cell["mean"])
        points += [x for x in (cell.get("ci95") or []) if x is not None]
    return points


def mean_interval_svg(body: Mapping[str, Any], label: str) -> str:
    """One row per cell: a circle at the mean (class "mean"), a whisker over the Student-t interval, the
    baseline's circle in its own colour and its mean as a dashed vertical line. A cell with no value gets a dash."""
    cells, baseline = body["cells"], body.get("baseline")
    points = _extent(cells) or [0.0, 1.0]
    ticks = nice_ticks(min(points), max(points))
    lo, hi = ticks[0], ticks[-1]
    suffix = " (baseline)"
    left = 16 + CHAR * max([len(_label(c["key"])) + (len(suffix) if c["key"] == baseline else 0) for c in cells]
                           + [8])
    plot = WIDTH - left - RIGHT
    height = TOP + ROW * max(len(cells), 1) + BOTTOM

    def x(v: float) -> float:
        return round(left + (v - lo) / (hi - lo) * plot, 2)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" font-family="system-ui, sans-serif" font-size="12" role="img" '
           f'aria-label={quoteattr(f"{label}: mean with its 95 % interval per cell")}>',
           f"<title>{escape(label)}: mean with its 95 % interval per cell</title>",
           f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
           f'<text x="{left}" y="22" font-size="14" font-weight="600">{escape(label)} · mean and 95 % interval '
           f'({escape(str(body.get("direction", "higher")))} is better)</text>']
    bottom = TOP + ROW * len(cells)
    for t in ticks:
        out.append(f'<line x1="{x(t)}" y1="{TOP}" x2="{x(t)}" y2="{bottom}" stroke="#e5e7eb"/>'
                   f'<text x="{x(t)}" y="{bottom + 16}" text-anchor="middle" fill="#444">{t:g}</text>')
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{left + plot}" y2="{bottom}" stroke="{LINE}"/>')
    out.append(f'<text x="{left + plot / 2}" y="{bottom + 38}" text-anchor="middle">{escape(label)}</text>')
    base = next((c for c in cells if c["key"] == baseline), None)
    if base is not None and base.get("mean") is not None:
        out.append(f'<line class="baseline" x1="{x(base["mean"])}" y1="{TOP - 6}" x2="{x(base["mean"])}" '
                   f'y2="{bottom}" stroke="{BASE_DOT}" stroke-dasharray="5 4"/>')
    for i, cell in enumerate(cells):
        y = TOP + ROW * i + ROW / 2
        is_base = cell["key"] == baseline
        name = _label(cell["key"]) + (suffix if is_base else "")
        weight = ' font-weight="600"' if is_base else ""
        out.append(f'<text x="{left - 10}" y="{y + 4}" text-anchor="end"{weight}>'
                   f'<title>{escape(cell["key"])}</title>{escape(name)}</text>')
        if cell.get("mean") is None:
            out.append(f'<text x="{left + 6}" y="{y + 4}" fill="#666">no value (n = {cell["n"]})</text>')
            continue
        ci = cell.get("ci95")
        if ci and None not in ci:
            out.append(f'<line x1="{x(ci[0])}" y1="{y}" x2="{x(ci[1])}" y2="{y}" stroke="{LINE}" stroke-width="1.5"/>'
                       + "".join(f'<line x1="{x(v)}" y1="{y - 6}" x2="{x(v)}" y2="{y + 6}" stroke="{LINE}" '
                                 'stroke-width="1.5"/>' for v in ci))
        colour = BASE_DOT if is_base else DOT
        tip = f"{cell['key']}: mean {cell['mean']:.4f}" + (f", 95 % CI [{ci[0]:.4f}, {ci[1]:.4f}]"
                                                          if ci and None not in ci else "") + f", n = {cell['n']}"
        out.append(f'<circle class="mean" cx="{x(cell["mean"])}" cy="{y}" r="5" fill="{colour}">'
                   f"<title>{escape(tip)}</title></circle>")
    out.append("</svg>")
    return "\n".join(out)
