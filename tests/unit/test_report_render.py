"""The report's writers on hand-made /stats bodies: LaTeX escaping, and a figure with a cell that has no value."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from backend.studies.report.figure import mean_interval_svg
from backend.studies.report.table import tex_escape

SVG = "{http://www.w3.org/2000/svg}"


def test_tex_escape_leaves_no_special_character_bare() -> None:
    assert tex_escape("lr_0.1 & 50% #2 {x} $y") == r"lr\_0.1 \& 50\% \#2 \{x\} \$y"
    assert tex_escape("~ ^") == r"\textasciitilde{} \textasciicircum{}"
    assert tex_escape("a\\b") == r"a\textbackslash{}b"


def test_figure_marks_only_cells_with_a_value_and_escapes_keys() -> None:
    cell = {"n": 3, "mean": 0.9, "ci95": [0.85, 0.95]}
    body = {"baseline": "method=supervised", "direction": "higher", "cells": [
        {"key": "method=supervised", **cell}, {"key": "name=<a&b>" + "x" * 80, **cell},
        {"key": "method=byol", "n": 0, "mean": None, "ci95": None}]}
    root = ET.fromstring(mean_interval_svg(body, "Linear probe"))
    assert len([c for c in root.iter(f"{SVG}circle") if c.get("class") == "mean"]) == 2
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert any("no value (n = 0)" in t for t in texts)
    assert any(t.startswith("name=<a&b>") and "…" in t for t in texts)  # cut, the whole key in its <title>
