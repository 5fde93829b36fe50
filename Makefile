# The two set-up commands of the README:
#   make run   - install roomcast and start the chat server (in-memory rooms, no other service)
#   make test  - install everything the tests need, then lint, type-check and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test install install-test system-deps node-deps lint typecheck pytest bench clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(VENV)/bin/activate
	$(PY) -m pip install -q -e .

install-test: $(VENV)/bin/activate
	$(PY) -m pip install -q -e '.[test,redis,fast]'

# Debian packages the test suite drives for real (Redis server, headless Chromium).
system-deps:
	@bash scripts/system-deps.sh

node-deps: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

run: install node-deps
	$(VENV)/bin/roomcast serve --host $(HOST) --port $(PORT)

lint:
	$(VENV)/bin/ruff check roomcast tests bench
	$(VENV)/bin/ruff format --check roomcast tests bench

typecheck:
	$(VENV)/bin/mypy --strict roomcast
	bash scripts/mypy-without-orjson.sh $(VENV)

pytest:
	$(VENV)/bin/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test: system-deps install-test node-deps lint typecheck pytest

bench: install-test node-deps
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
