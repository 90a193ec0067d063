"""The documentation site builds with `mkdocs build --strict` (a broken link or a page missing from the nav fails
it), its configuration page lists every setting, and the README stays a front door that links into it."""

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from contrastlab.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
INSTALL = "pip install -c constraints.txt -e '.[test]' (make setup does it)"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert importlib.util.find_spec("mkdocs") and importlib.util.find_spec("material"), \
        f"mkdocs and mkdocs-material are not installed: {INSTALL}"
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_the_site_builds_strict_with_every_page(site: Path):
    pages = sorted(p.relative_to(ROOT / "docs").with_suffix(".html").as_posix()
                   for p in (ROOT / "docs").glob("*.md"))
    assert "index.html" in pages
    for page in pages:
        assert (site / page).is_file(), page


def test_the_configuration_page_lists_every_setting(site: Path):
    page = html.unescape((site / "configuration.html").read_text())
    assert "settings-table" not in page, "the hook did not replace the placeholder"
    for name, field in Settings.model_fields.items():
        row = re.search(rf"<tr>\s*<td><code>{name.upper()}</code></td>(.*?)</tr>", page, re.S)
        assert row, f"{name.upper()} is missing from the configuration page"
        assert (field.description or "").split("`")[0][:30] in html.unescape(re.sub("<[^>]+>", "", row.group(1)))


def test_the_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for target in re.findall(r"\]\(((?:docs/)[^)#]+)", readme):
        assert (ROOT / target).is_file(), f"README links to {target}, which does not exist"
    assert "make run" in readme and "make test" in readme
