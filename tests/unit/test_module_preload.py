"""index.html lists every module app.js imports as a modulepreload: the browser fetches them all at once instead of
level by level as it reads each module's imports (six levels deep: ~1 s on a busy machine before the first API call).
A module added to an import without a line in index.html still loads, later; this test says which line to add."""

import posixpath
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
IMPORT = re.compile(r'^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}/[^"]+)"|^\s*import\s+"(\.{1,2}/[^"]+)"', re.M)


def imported_modules(entry: str = "js/app.js") -> set[str]:
    """Every module reachable from `entry` through static imports, as paths under frontend/."""
    seen: set[str] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for match in IMPORT.finditer((FRONTEND / path).read_text()):
            todo.append(posixpath.normpath(posixpath.join(posixpath.dirname(path), match.group(1) or match.group(2))))
    return seen - {entry}


def test_index_preloads_every_module_app_js_imports() -> None:
    html = (FRONTEND / "index.html").read_text()
    listed = re.findall(r'<link rel="modulepreload" href="/static/([^"]+)">', html)
    wanted = imported_modules()
    assert len(wanted) > 30  # the graph was read: every view and what it imports
    assert len(listed) == len(set(listed)), "a module is listed twice"
    missing = sorted(wanted - set(listed))
    assert not missing, "add to frontend/index.html:\n" + "\n".join(
        f'  <link rel="modulepreload" href="/static/{m}">' for m in missing)
    assert not set(listed) - wanted, f"not imported by app.js any more: {sorted(set(listed) - wanted)}"
    assert all((FRONTEND / m).is_file() for m in listed)
