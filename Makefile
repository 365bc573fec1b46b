# Two commands matter: `make demo` and `make test`. Both create the virtualenv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The demo needs only the app and what the example uses, not the test toolchain.
DEMO_STAMP := $(VENV)/.demo-stamp
PURE_LAYERS := $(wildcard agentic_django/core agentic_django/llm agentic_django/harness agentic_django/runtime agentic_django/streaming)

.PHONY: install demo test lint unit integration bench bench-concurrency clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e ".[demo]"
	touch $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(PURE_LAYERS)

unit: $(STAMP)
	$(BIN)/pytest -q -m "not integration and not live"

integration: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/integration.sh

test: lint unit integration

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/bench.sh

# benchmarks/concurrency.py alone; options through ARGS, e.g. make bench-concurrency ARGS=--quick
bench-concurrency: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/bench.sh concurrency $(ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
