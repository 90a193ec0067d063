# Two commands after a clone: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
DEBIAN_TEST_PACKAGES := chromium dataset-fashion-mnist docker-compose

.PHONY: setup plotly-bundle run test test-unit test-integration test-browser lint docs system-deps browser-deps clean

$(STAMP):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[train,export,test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP) plotly-bundle

# plotly.js with only the traces the pages draw, built once from npm (frontend/vendor); without npm the API serves
# the Python plotly package's full bundle, which works the same and takes longer to parse.
PLOTLY_BUNDLE := frontend/vendor/build/plotly.min.js

$(PLOTLY_BUNDLE): frontend/vendor/package.json frontend/vendor/package-lock.json frontend/vendor/plotly_bundle.js
	npm ci --prefix frontend/vendor --no-audit --no-fund
	npm run --prefix frontend/vendor build

plotly-bundle:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(PLOTLY_BUNDLE); \
	else echo "npm not found: the page gets the full plotly.js (install Node.js with npm for a smaller one)"; fi

run: setup
	$(PY) -m contrastlab.launch

# Debian packages the tests use (Chromium for the browser tests, Fashion-MNIST files).
system-deps:
	@missing=""; for p in $(DEBIAN_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

# The Node tools the tests use, pinned by tests/browser/package-lock.json: axe-core, which the browser tests
# inject into the page from disk, and ESLint for frontend/js (eslint.config.js).
AXE := tests/browser/node_modules/axe-core/axe.min.js
ESLINT := tests/browser/node_modules/.bin/eslint

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: the tests need it for axe-core and ESLint (install Node.js 18.18 or later with npm)"; exit 1; }
	npm ci --prefix tests/browser --no-audit --no-fund
	touch $(AXE)

browser-deps: $(AXE)

# Three pytest processes (pytest-xdist) on this 2-core machine, each test file whole in one of them: the suite
# waits on subprocesses, servers and a browser as much as it computes. TEST_WORKERS=0 runs it in one process.
# Files go out in collection order, the slowest first (tests/conftest.py SLOWEST_FIRST), not xdist's default of
# most tests first. --durations=10 names the slowest tests at the end.
TEST_WORKERS ?= 3

test: setup system-deps browser-deps
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=10

test-unit: setup browser-deps
	$(PY) -m pytest -q tests/unit

lint: setup browser-deps
	$(ESLINT) frontend/js
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy backend worker tests bench contrastlab

# The manual (docs/, mkdocs.yml) into site/; tests/unit/test_docs.py builds it the same way.
docs: setup
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) data .pytest_cache tests/browser/node_modules frontend/vendor/node_modules frontend/vendor/build site
