"""The dashboard's JavaScript: ESLint (eslint.config.js) finds nothing, and statuses are spelled only in catalog.js.

ESLint comes pinned with axe-core in tests/browser/package-lock.json; `make test` installs both with
`npm ci --prefix tests/browser`. A missing ESLint fails here with the command that installs it, never a skip.
"""

import re
import shutil
import subprocess
from pathlib import Path

from contrastlab.core.catalog import Status

ROOT = Path(__file__).resolve().parents[2]
FRONTEND_JS = ROOT / "frontend" / "js"
ESLINT = ROOT / "tests" / "browser" / "node_modules" / ".bin" / "eslint"
INSTALL = "npm ci --prefix tests/browser (make browser-deps does it; it needs Node.js 18.18 or later with npm)"


def test_eslint_finds_nothing_in_frontend_js():
    assert shutil.which("node"), f"node is not on PATH: install Node.js with npm, then run {INSTALL}"
    assert ESLINT.exists(), f"ESLint is not installed: run {INSTALL}"
    result = subprocess.run([str(ESLINT), "--max-warnings", "0", "frontend/js"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_statuses_are_spelled_only_in_the_catalogue_module():
    words = "|".join(Status)
    literal = re.compile(rf"""["'`]({words})["'`]""")
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in sorted(FRONTEND_JS.rglob("*.js")) if path.name != "catalog.js"
             for n, line in enumerate(path.read_text().splitlines(), 1) if literal.search(line)]
    assert not found, "compare statuses through catalog.js's STATUS:\n" + "\n".join(found)
    catalog_js = (FRONTEND_JS / "catalog.js").read_text()
    for status in Status:
        assert f'{status.value}: "{status.value}"' in catalog_js, f"catalog.js's STATUS lacks {status.value}"
