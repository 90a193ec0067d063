"""The catalogue as the CLI reads it: metric labels, directions and display formats, and the run statuses.

The document is the server's (GET /api/schema/catalog), so a metric or status a newer server adds shows in
an older CLI without a change here. The formats mirror the page's (frontend/js/format.js): an accuracy reads
"93.4 %" in both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DASH = "—"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_percent(value: float) -> str:
    """A fraction as a percentage with one decimal: 0.9342 -> "93.4 %"."""
    return f"{value * 100:.1f} %"


def format_number(value: float) -> str:
    """Four significant digits, without an exponent between 1e-3 and 1e6: 0.41234 -> "0.4123", 3.0 -> "3"."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
        return f"{value:.2e}"
    return f"{float(f'{value:.4g}'):.12g}"


def format_scientific(value: float) -> str:
    """Short scientific notation: 0.001 -> "1e-3", 0.00099 -> "9.9e-4"."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def format_duration(seconds: float) -> str:
    """Seconds as "12.3 s", "3 m 07 s" or "1 h 02 m"."""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    whole = round(seconds)
    hours, minutes = whole // 3600, whole % 3600 // 60
    return f"{hours} h {minutes:02d} m" if hours else f"{minutes} m {whole % 60:02d} s"


def format_integer(value: float) -> str:
    return f"{round(value):,}"


def _decimals_for(spread: float) -> int:
    """Decimals that show a spread to one significant digit, two when it starts with a 1 (0.14, not 0.1), so a
    mean is never written more precisely than the spread allows, nor a spread read as 0.0."""
    rounded = float(f"{spread:.1e}")  # two significant digits, so that 0.096 counts as 0.1
    exponent = math.floor(math.log10(rounded))
    leading = int(f"{rounded:.1e}"[0])
    return (1 if leading == 1 else 0) - exponent


# A mean ± spread per display format: (scale, unit said once at the end, fewest decimals a mean shows, 0: any).
SPREAD_UNITS: dict[str, tuple[float, str, int]] = {
    "percent": (100.0, " %", 1), "duration": (1.0, " s", 0), "integer": (1.0, "", 0),
}
MAX_DECIMALS = 6


def format_mean_spread(kind: str, mean: float, spread: float) -> str:
    """Mean ± spread in one unit, said once, to the precision the spread carries: "97.3 ± 0.4 %" (never fewer
    decimals than a single value shows), "0.284 ± 0.004", "187 ± 12 s"; a zero spread is "± 0"."""
    scale, unit, fewest = SPREAD_UNITS.get(kind, (1.0, "", 0))
    mean, spread = mean * scale, spread * scale
    if kind == "duration" and abs(mean) < 10:
        fewest = 1  # as a single duration: "8.3 s"
    if spread == 0:
        if kind in SPREAD_UNITS:
            return f"{mean:.{fewest}f} ± 0{unit}"
        return f"{format_number(mean)} ± 0{unit}"
    decimals = min(max(_decimals_for(spread), fewest) if fewest else _decimals_for(spread), MAX_DECIMALS)
    if decimals < 0:  # a spread of hundreds: both rounded to its tens or hundreds
        return f"{round(mean, decimals):.0f} ± {round(spread, decimals):.0f}{unit}"
    return f"{mean:.{decimals}f} ± {spread:.{decimals}f}{unit}"


FORMATTERS: dict[str, Callable[[float], str]] = {
    "percent": format_percent, "number": format_number, "scientific": format_scientific,
    "duration": format_duration, "integer": format_integer,
}


def format_value(value: Any) -> str:
    """A spec or axis value as a table shows it: numbers as written, booleans as true/false, none as a dash."""
    if value is None or value == "":
        return DASH
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@dataclass(frozen=True)
class Catalog:
    """The catalogue document with the questions the CLI asks of it."""

    doc: Mapping[str, Any]

    @classmethod
    def bundled(cls) -> Catalog:
        """This package's own catalogue, for a server too old to serve /api/schema/catalog."""
        from contrastlab.core.catalog import catalog_document

        return cls(catalog_document())

    @property
    def metrics(self) -> Mapping[str, Mapping[str, Any]]:
        return self.doc.get("metrics", {})

    @property
    def statuses(self) -> list[str]:
        return list(self.doc.get("statuses", ()))

    @property
    def final_statuses(self) -> frozenset[str]:
        return frozenset(self.doc.get("final_statuses", ()))

    def label(self, name: str) -> str:
        """"Linear probe" for linear_acc; a metric the catalogue lacks reads as its words."""
        return str(self.metrics.get(name, {}).get("label") or name.replace("_", " "))

    def phase_text(self, phase: Mapping[str, Any] | None) -> str:
        """A running run's phase as the page says it: "linear probe 30/100", "t-SNE"; "" for none."""
        if not phase:
            return ""
        name = str(phase.get("name", ""))
        label = str(self.doc.get("phases", {}).get(name, {}).get("label") or name.replace("_", " "))
        total = phase.get("total")
        return f"{label} {phase.get('done', 0):,}/{total:,}" if isinstance(total, int) and total else label

    def direction(self, name: str) -> str | None:
        """"higher" or "lower" (which way is better), or None when neither is (the learning rate, unknown)."""
        direction = self.metrics.get(name, {}).get("direction")
        return direction if direction in ("higher", "lower") else None

    def format(self, name: str, value: Any) -> str:
        """A value of a metric in the metric's display format ("93.4 %", "0.4213", "1e-3", "3 m 07 s")."""
        if not _finite(value):
            return DASH if value is None else str(value)
        kind = str(self.metrics.get(name, {}).get("format", "number"))
        return FORMATTERS.get(kind, format_number)(float(value))

    def format_interval(self, name: str, mean: float | None, ci95: Iterable[float | None] | None) -> str:
        """Mean ± half the 95 % interval in the metric's format: "97.3 ± 0.4 %"; the mean alone without one."""
        bounds = list(ci95 or ())
        if len(bounds) != 2 or not all(_finite(b) for b in bounds):
            return self.format_spread(name, mean, None)
        return self.format_spread(name, mean, (float(bounds[1]) - float(bounds[0])) / 2)  # type: ignore[arg-type]

    def format_spread(self, name: str, mean: float | None, spread: float | None) -> str:
        """Mean ± spread (a std or a half interval) as the page writes it: "97.3 ± 0.4 %", "0.284 ± 0.004",
        "8.3 ± 0.4 s"; the mean alone (in its usual format) without a spread."""
        if not _finite(mean):
            return DASH
        if not _finite(spread):
            return self.format(name, mean)
        kind = str(self.metrics.get(name, {}).get("format", "number"))
        return format_mean_spread(kind, float(mean), abs(float(spread)))  # type: ignore[arg-type]

    def best(self, name: str, values: Iterable[float | None]) -> float | None:
        """The best of some values of a metric in its direction; None when it has none (nothing is "best")."""
        direction = self.direction(name)
        present = [v for v in values if _finite(v)]
        if direction is None or not present:
            return None
        return max(present) if direction == "higher" else min(present)  # type: ignore[type-var]

    def ordered(self, names: Iterable[str]) -> list[str]:
        """Metric names in the catalogue's order (its order of charts and columns), unknown ones after, sorted."""
        names = set(names)
        known = [name for name in self.metrics if name in names]
        return known + sorted(names - set(known))

    def headline_metrics(self) -> list[str]:
        """The final accuracies of a trained encoder (final, shown as a percentage, not a random-init baseline):
        the runs table's columns unless told others."""
        baselines = set(self.doc.get("baselines", {}).values())
        return [name for name in self.doc.get("final_metrics", ())
                if name not in baselines and self.metrics.get(name, {}).get("format") == "percent"]

    def default_study_metric(self) -> str:
        """The metric a study is judged by unless told: the first with a random-init baseline (the linear probe)."""
        for name in self.doc.get("baselines", {}):
            return str(name)
        finals = list(self.doc.get("final_metrics", ()))
        if not finals:
            raise ValueError("the server's catalogue has no final metric; name one with --metric")
        return str(finals[0])

    def choices(self, option: str) -> list[str]:
        """What `ls` may filter by: the catalogue's run statuses, methods or datasets."""
        if option == "status":
            return self.statuses
        return list(self.doc.get({"method": "methods", "dataset": "datasets"}[option], {}))

    def check(self, option: str, value: str) -> str:
        """The value, if the catalogue has it (a status, a method, a dataset); else a ValueError that lists them."""
        known = self.choices(option)
        if known and value not in known:
            what = "run status" if option == "status" else option
            raise ValueError(f"--{option} {value!r}: not a {what}; choose one of {', '.join(known)}")
        return value
