# One command each: `make demo` colorizes the sample photos, `make test` checks the layers and style and runs the tests.
# Both create .venv when missing and install torch==2.13.0 (the CPU wheel) first; `make demo` installs only what
# colorizing and serving need (the package with its `serve` extra), `make test` adds the `test` extra.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint install install-test clean

install: $(STAMP)

install-test: $(TEST_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[serve]"
	touch $(STAMP)

# the test tools (pytest, hypothesis, playwright, nbclient, ruff, import-linter...) on top
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[serve,test]"
	touch $(TEST_STAMP)

demo: $(STAMP)
	$(BIN)/python -m colorizer.samples samples
	$(BIN)/colorizer colorize samples -o outputs --overwrite
	@echo "Done: the colorized photos are in outputs/"

test: lint
	$(BIN)/python -m pytest -q

# the layer rules (import-linter contracts in pyproject.toml) and ruff; part of `make test`
lint: $(TEST_STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check src tests benchmarks scripts

clean:
	rm -rf outputs samples .pytest_cache
