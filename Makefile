# make checks: run the checks (DATABASE_URL, or the embedded demo database when unset).
# make test:   run tradewatch's own self-tests.
# Both create .venv and install the project into it on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: checks test lint bench clean

$(BIN)/tradewatch: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Findings fail a live run (exit 1). The demo plants defects on purpose, so a complete demo
# run whose report holds nothing but findings succeeds; errors, no tests, or a live database
# still fail.
DEMO_FINDINGS_ONLY := import sys, tradewatch.report as r; sys.exit(not r.demo_findings_only("reports/tradewatch.json"))

checks: $(BIN)/tradewatch
	@status=0; $(BIN)/python -m pytest checks/ $(ARGS) || status=$$?; \
	if [ $$status -eq 1 ] && $(BIN)/python -c '$(DEMO_FINDINGS_ONLY)'; then \
	  echo "tradewatch: the demo's planted defects were found (see fixtures/README.md)"; status=0; fi; \
	exit $$status

test: $(BIN)/tradewatch
	$(BIN)/python -m pytest tests/ --tradewatch-report=reports/selftests.json $(ARGS)

lint: $(BIN)/tradewatch
	$(BIN)/ruff check .
	$(BIN)/mypy tradewatch checks tests bench

# make bench: benchmark pytest checks/ at 10k and 1M orders (DATABASE_URL's server, or embedded).
bench: $(BIN)/tradewatch
	$(BIN)/python -m bench.run $(ARGS)

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache .hypothesis
