"""The results table of a study in Markdown, LaTeX (booktabs) and HTML, from the /stats body and nothing else."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from backend.studies.stats import ALPHA
from backend.studies.stats.robust import REPS

FORMATS = ("md", "tex", "html")
MEDIA_TYPES = {"md": "text/markdown; charset=utf-8", "tex": "application/x-tex; charset=utf-8",
               "html": "text/html; charset=utf-8"}
FIGURE = "figure.svg"  # md and tex reference the figure by this name, beside them (the CLI writes both)
HEADER = ("Cell", "n", "Mean", "95 % CI", "IQM", "IQM 95 % CI", "Δ vs baseline", "p (Holm)", "Verdict")
STATISTICS = {
    "interval": "mean with its Student-t 95 % interval over the succeeded seeds",
    "iqm": f"interquartile mean with its stratified-bootstrap 95 % percentile interval ({REPS} replicates)",
    "test": "each cell against the baseline by Welch's two-sided t-test",
    "correction": f"Holm-corrected over the cells (family-wise α = {ALPHA})",
}


@dataclass(frozen=True)
class Report:
    """What every format says: a title, the metric and its baseline, the statistics named, and the rows."""

    title: str
    metric: str
    label: str
    baseline: str | None
    rows: list[tuple[str, ...]]
    excluded: str

    @property
    def caption(self) -> str:
        stats = "; ".join(STATISTICS.values())
        base = f"baseline {self.baseline}" if self.baseline else "no baseline"
        return f"{self.label} ({self.metric}) per cell, {base}: {stats}.{self.excluded}"


def _num(x: float | None, sign: bool = False) -> str:
    return "–" if x is None else f"{x:+.4f}" if sign else f"{x:.4f}"


def _ci(ci: list[float | None] | None) -> str:
    return "–" if not ci or None in ci else f"[{_num(ci[0])}, {_num(ci[1])}]"


def _p(p: float | None) -> str:
    return "–" if p is None else f"{p:.3g}"


def report(title: str, label: str, body: Mapping[str, Any]) -> Report:
    """The rows of the table, read from the /stats body: one per cell, in the study's cell order."""
    comparisons = {c["key"]: c for c in body["comparisons"]}
    rows: list[tuple[str, ...]] = []
    for cell in body["cells"]:
        comp = comparisons.get(cell["key"], {})
        verdict = "baseline" if cell["key"] == body["baseline"] else comp.get("verdict", "–")
        rows.append((cell["key"], str(cell["n"]), _num(cell["mean"]), _ci(cell["ci95"]), _num(cell["iqm"]),
                     _ci(cell["iqm_ci95"]), _num(comp.get("diff"), sign=True), _p(comp.get("p_holm")), verdict))
    left = {k: v for k, v in body["excluded"].items() if v}
    excluded = (" Runs left out: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in left.items()) + "."
                if left else "")
    return Report(title, body["metric"], label, body["baseline"], rows, excluded)


def markdown(r: Report) -> str:
    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    lines = [f"# {r.title}", "", r.caption, "",
             "| " + " | ".join(HEADER) + " |", "|" + "|".join(["---"] + ["---:"] * 7 + ["---"]) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in r.rows]
    lines += ["", f"![{cell(r.label)}: mean with its 95 % interval per cell]({FIGURE})", ""]
    return "\n".join(lines)


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "Δ": r"$\Delta$", "α": r"$\alpha$",
        "–": "--"}


def tex_escape(text: str) -> str:
    """Text as LaTeX prints it: its special characters escaped (underscores, %, &, ...)."""
    return "".join(_TEX.get(ch, ch) for ch in text)


def latex(r: Report) -> str:
    """A table and a figure for a paper; needs \\usepackage{booktabs} and \\usepackage{svg} (for figure.svg)."""
    row = " & ".join
    lines = [f"% {tex_escape(r.title)}: needs \\usepackage{{booktabs}} and \\usepackage{{svg}}",
             r"\begin{table}[ht]", r"\centering", f"\\caption{{{tex_escape(r.caption)}}}",
             r"\begin{tabular}{l" + "r" * 7 + "l}", r"\toprule",
             row(tex_escape(h) for h in HEADER) + r" \\", r"\midrule"]
    lines += [row(tex_escape(v) for v in values) + r" \\" for values in r.rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", "",
              r"\begin{figure}[ht]", r"\centering", r"\includesvg[width=\linewidth]{" + FIGURE.removesuffix(".svg")
              + "}", f"\\caption{{{tex_escape(r.label)}: mean with its 95 \\% interval per cell; the dashed line "
              "is the baseline's mean.}", r"\end{figure}", ""]
    return "\n".join(lines)


_CSS = ("body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1b1f24}"
        "table{border-collapse:collapse;margin:1rem 0;width:100%}caption{text-align:left;padding:.5rem 0;"
        "color:#444}th,td{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:right;"
        "font-variant-numeric:tabular-nums}th:first-child,td:first-child,th:last-child,td:last-child"
        "{text-align:left}td:first-child{overflow-wrap:anywhere}thead th{border-bottom:2px solid #333}"
        "svg{max-width:100%;height:auto}")


def page(r: Report, svg: str) -> str:
    """A standalone HTML page: the table and the figure inline (no request for the figure)."""
    e = html.escape
    head = "".join(f"<th scope=\"col\">{e(h)}</th>" for h in HEADER)
    body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in r.rows)
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(r.title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{e(r.title)}</h1>"
            f"<table><caption>{e(r.caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<figure>{svg}<figcaption>{e(r.label)}: mean with its 95 % interval per cell; the dashed line is the "
            f"baseline's mean.</figcaption></figure></body></html>\n")


def render(fmt: str, title: str, label: str, body: Mapping[str, Any], svg: Callable[[], str]) -> str:
    """The report in one of FORMATS; `svg` draws the figure, embedded by html only."""
    r = report(title, label, body)
    if fmt == "md":
        return markdown(r)
    if fmt == "tex":
        return latex(r)
    return page(r, svg())
