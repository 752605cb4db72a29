# Two commands for a new user:  make run  (app on http://127.0.0.1:5000 with demo data, and the background
# worker beside it)  and  make test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := app
# The suite runs on every core (pytest-xdist; each worker has its own database, Chromium and temporary folders).
# PYTEST_ARGS replaces this: make test PYTEST_ARGS="-k auth -x" runs in one process.
PYTEST_ARGS ?= -n auto

.PHONY: run test install system-deps system-deps-test translations lint bench

run: system-deps install
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	BIN=$(BIN) HOST=$(HOST) PORT=$(PORT) sh scripts/run.sh

test: system-deps-test install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed node_modules/.installed translations

system-deps:
	sh scripts/system-deps.sh

system-deps-test:
	sh scripts/system-deps.sh --test

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# esbuild, which bundles the phone's modules into one file when the app first sends them (blueprints/field/bundle.py):
# the version and checksum pinned in package-lock.json (npm ci checks it). Without npm the app sends the modules one
# by one, as before.
node_modules/.installed: package.json package-lock.json
	if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the phone's modules will be sent unbundled (scripts/system-deps.sh installs it)" >&2; fi

translations: $(VENV)/.installed
	$(BIN)/pybabel compile -d translations --statistics 2>&1 | grep -v '^compiling' || true

lint: install
	$(BIN)/ruff check .

bench: install
	@for f in $(wildcard bench/bench_*.py); do echo "== $$f"; $(BIN)/python $$f || exit 1; done
