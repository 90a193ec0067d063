"""A study's report (Markdown, LaTeX, HTML) and its SVG figure over REST, on SQLite and PostgreSQL: every number
read back from the text equals the /stats body's, and the figure parses and holds one marker per cell."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from backend.models import Run
from contrastlab.client import cli, cli_base
from contrastlab.client.api import Client

SVG = "{http://www.w3.org/2000/svg}"
VALUES = {"simclr": [0.90, 0.92, 0.91], "supervised": [0.95, 0.96, 0.955], "byol": [0.80, 0.86, 0.83]}


def _finished_study(client, name: str = "50%_of & tau_t") -> dict:
    response = client.post("/api/studies", json={"name": name, "base": {"dataset": "digits", "epochs": 1},
                                                 "axes": {"method": list(VALUES)}, "seeds": [0, 1, 2]})
    assert response.status_code == 201, response.text
    study = response.json()
    seen: dict[str, int] = {}
    with client.app.state.sessionmaker() as session:
        for run in study["runs"]:
            method = run["spec"]["method"]
            value = VALUES[method][seen.setdefault(method, 0)]
            seen[method] += 1
            session.execute(update(Run).where(Run.id == run["id"])
                            .values(status="succeeded", summary={"linear_acc": value}))
        session.commit()
    return study


def _tex_rows(tex: str) -> list[list[str]]:
    """The body rows of the booktabs tabular: between \\midrule and \\bottomrule, cells split on unescaped &."""
    inner = tex.split("\\midrule", 1)[1].split("\\bottomrule", 1)[0]
    rows = [line.removesuffix("\\\\").strip() for line in inner.strip().splitlines()]
    return [[cell.strip() for cell in re.split(r"(?<!\\)&", row)] for row in rows]


def test_latex_table_says_what_stats_says(client) -> None:
    study = _finished_study(client)
    stats = client.get(f"/api/studies/{study['id']}/stats").json()
    response = client.get(f"/api/studies/{study['id']}/report", params={"format": "tex"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-tex")
    tex = response.text
    assert "\\begin{tabular}" in tex and "\\toprule" in tex and "\\bottomrule" in tex
    assert "50\\%\\_of \\& tau\\_t" in tex  # the study's name, escaped
    found = re.search(r"\\caption\{(.*?)\}\n", tex)
    assert found is not None
    caption = found.group(1)
    for named in ("Student-t 95", "Welch", "Holm", "bootstrap", "baseline method=supervised"):
        assert named in caption
    rows = _tex_rows(tex)
    assert len(rows) == len(stats["cells"]) == 3
    comparisons = {c["key"]: c for c in stats["comparisons"]}
    for row, cell in zip(rows, stats["cells"], strict=True):
        assert row[0] == cell["key"] and int(row[1]) == cell["n"] == 3
        assert float(row[2]) == pytest.approx(cell["mean"], abs=5e-5)
        low, high = (float(x) for x in row[3].strip("[]").split(","))
        assert [low, high] == pytest.approx(cell["ci95"], abs=5e-5)
        assert float(row[4]) == pytest.approx(cell["iqm"], abs=5e-5)
        verdict = "baseline" if cell["key"] == stats["baseline"] else comparisons[cell["key"]]["verdict"]
        assert row[-1] == verdict
    assert "\\includesvg[width=\\linewidth]{figure}" in tex


def test_markdown_and_html_and_the_figure(client) -> None:
    study = _finished_study(client, name="plain")
    url = f"/api/studies/{study['id']}/report"
    stats = client.get(f"/api/studies/{study['id']}/stats", params={"baseline": "method=simclr"}).json()
    md = client.get(url, params={"format": "md", "baseline": "method=simclr"}).text
    table = [line for line in md.splitlines() if line.startswith("| method=")]
    assert [float(line.split("|")[3]) for line in table] == pytest.approx([c["mean"] for c in stats["cells"]],
                                                                           abs=5e-5)
    assert "](figure.svg)" in md and "Welch" in md and "Holm" in md

    page = client.get(url, params={"format": "html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "<svg" in page.text and 'src="figure.svg"' not in page.text

    figure = client.get(f"{url}/figure.svg", params={"baseline": "method=simclr"})
    assert figure.status_code == 200 and figure.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(figure.text)
    assert root.tag == f"{SVG}svg"
    markers = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "mean"]
    assert len(markers) == len(stats["cells"]) == 3
    assert len([line for line in root.iter(f"{SVG}line") if line.get("class") == "baseline"]) == 1
    # Every whisker lies on the axis drawn: between its first and last tick.
    ends = [float(line.get(k, "nan")) for line in root.iter(f"{SVG}line") for k in ("x1", "x2")]
    ticks = [float(line.get("x1", "nan")) for line in root.iter(f"{SVG}line") if line.get("stroke") == "#e5e7eb"]
    assert min(ticks) <= min(ends) and max(ends) <= max(ticks)
    # The markers sit in the order of the means (x grows with the value).
    xs = {m.findtext(f"{SVG}title", "").split(":")[0]: float(m.get("cx", "nan")) for m in markers}
    assert xs["method=byol"] < xs["method=simclr"] < xs["method=supervised"]


def test_unknown_study_and_unknown_format(client) -> None:
    assert client.get("/api/studies/999999/report").status_code == 404
    assert client.get("/api/studies/999999/report/figure.svg").status_code == 404
    study = _finished_study(client, name="x")
    response = client.get(f"/api/studies/{study['id']}/report", params={"format": "pdf"})
    assert response.status_code == 422
    assert all(name in response.text for name in ("'pdf'", "md", "tex", "html"))


def test_cli_writes_the_report_and_the_figure(client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    study = _finished_study(client)

    def api(ctx: Any) -> Client:
        http = httpx.Client(transport=client._transport, base_url="http://localhost",
                            headers={"X-Requested-With": "tests"})
        return Client("http://localhost", http=http)

    monkeypatch.setattr(cli_base, "_client", api)
    folder = tmp_path / "report"
    result = CliRunner().invoke(cli.app, ["study-report", str(study["id"]), "--format", "tex", "-o", str(folder)])
    assert result.exit_code == 0, result.output
    tex, svg = (folder / "report.tex").read_text(), (folder / "figure.svg").read_text()
    assert tex == client.get(f"/api/studies/{study['id']}/report", params={"format": "tex"}).text
    assert len([c for c in ET.fromstring(svg).iter(f"{SVG}circle") if c.get("class") == "mean"]) == 3
    assert str(folder / "report.tex") in result.output

    result = CliRunner().invoke(cli.app, ["study-report", "999999", "-o", str(tmp_path / "none")])
    assert result.exit_code != 0 and "not found" in result.output and not (tmp_path / "none").exists()
