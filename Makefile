# The two set-up commands of the README:
#   make run   - install roomcast and start the chat server (in-memory rooms, no other service)
#   make test  - install everything the tests need, then lint, type-check and run the whole suite
#                (tests/bench runs `python -m bench --smoke`: a broken benchmark fails it)
# Also: make bench - the benchmark suite against roomcast and its baselines (README: Benchmarks)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

# Stamp files: an install runs again only when what it installs from has changed.
RUN_STAMP  := $(VENV)/.roomcast-run
TEST_STAMP := $(VENV)/.roomcast-test
NODE_STAMP := node_modules/.roomcast-npm-ci
CLIENT_STAMP := node_modules/.roomcast-client

.PHONY: run test install install-test system-deps node-deps client-js lint typecheck pytest bench bench-smoke clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# roomcast alone, for `make run`
$(RUN_STAMP): pyproject.toml | $(VENV)/bin/activate
	$(PY) -m pip install -q -e .
	touch $@

# roomcast with everything the tests use
$(TEST_STAMP): pyproject.toml | $(VENV)/bin/activate
	$(PY) -m pip install -q -e '.[test,redis,fast]'
	touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)
install-test: $(TEST_STAMP)

# Debian packages the test suite drives for real (Redis server, HAProxy, headless Chromium).
system-deps:
	@bash scripts/system-deps.sh

# Every npm package of package-lock.json (Node's reference clients and servers), for the tests.
$(NODE_STAMP): package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node-deps: $(NODE_STAMP)

# Only the official browser client the chat page loads, at the version package-lock.json pins:
# its tarball alone (the dist/ bundles need nothing else), not the test tooling. Skipped when
# that version is already there (e.g. after `npm ci`).
$(CLIENT_STAMP): package-lock.json
	@version=$$(node -p 'require("./package-lock.json").packages["node_modules/socket.io-client"].version') && \
	installed=$$(node -p 'try { require("./node_modules/socket.io-client/package.json").version } catch { "" }') && \
	if [ "$$installed" != "$$version" ]; then \
		echo "npm: socket.io-client@$$version (the page's client)" && \
		tmp=$$(mktemp -d) && \
		npm pack --silent --pack-destination "$$tmp" "socket.io-client@$$version" >/dev/null && \
		rm -rf node_modules/socket.io-client && mkdir -p node_modules/socket.io-client && \
		tar -xzf "$$tmp"/socket.io-client-*.tgz --strip-components=1 -C node_modules/socket.io-client && \
		rm -rf "$$tmp"; \
	fi
	touch $@

client-js: $(CLIENT_STAMP)

run: $(RUN_STAMP) $(CLIENT_STAMP)
	$(VENV)/bin/roomcast serve --host $(HOST) --port $(PORT)

lint:
	$(VENV)/bin/ruff check roomcast tests bench
	$(VENV)/bin/ruff format --check roomcast tests bench
	$(VENV)/bin/lint-imports

typecheck:
	$(VENV)/bin/mypy --strict roomcast
	bash scripts/mypy-without-orjson.sh $(VENV)

pytest:
	$(VENV)/bin/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test: system-deps $(TEST_STAMP) $(NODE_STAMP) lint typecheck pytest

bench: $(TEST_STAMP) $(NODE_STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench $(BENCH_ARGS)

# One tiny run of every scenario (roomcast only unless BENCH_ARGS='--servers ...'); measures nothing.
bench-smoke: install-test node-deps
	$(PY) -m bench --smoke $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
