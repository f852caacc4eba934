# The two commands a newcomer runs are `make demo` and `make test`; everything installs itself into .venv.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lint format test e2e demo airflow bench support-doc

install: $(STAMP)

# Reinstalls only when the pins or the package metadata change. pip's output goes to $(VENV)/install.log and is
# shown only when the install fails.
$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11" >&2; exit 2; }
	@if [ ! -d $(VENV) ]; then \
		echo "install: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); \
	elif ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
		echo "install: $(VENV) has no pip; creating it again"; rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	fi
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || { \
		echo "error: $(PYTHON) made a venv without pip (on Debian or Ubuntu: apt install python3.11-venv)" >&2; exit 2; }
	@echo "install: installing requirements.txt into $(VENV) (minutes the first time; log: $(VENV)/install.log)"
	@{ $(BIN)/python -m pip install --upgrade pip && $(BIN)/python -m pip install -r requirements.txt; } \
		>$(VENV)/install.log 2>&1 || { tail -n 40 $(VENV)/install.log >&2; \
		echo "error: the install failed; the whole log is $(VENV)/install.log" >&2; exit 1; }
	@touch $(STAMP)
	@echo "install: done"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# docs/local-endpoint-support.md from the local endpoint's support table (a test fails while it is stale).
support-doc: install
	PYTHONPATH=include $(BIN)/python -m personalize_local.support

# Every test but the e2e tier (which starts whole Airflow clusters and takes longer): see `make e2e`.
test: lint
	$(BIN)/pytest -m "not e2e" $(PYTEST_ARGS)

# The production-shaped tier: Airflow as separate processes under the LocalExecutor and the CeleryExecutor,
# `make airflow` as a newcomer runs it, and a real browser.
e2e: install browser
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

# Debian's chromium and chromedriver for the browser test (tests/e2e/test_make_airflow.py): installed with apt-get
# when either is missing (as root, or through sudo), nothing otherwise; the package lists are refreshed only when the
# first install fails. `.ci/run` calls it before the tests.
.PHONY: browser
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	echo "browser: installing Debian's chromium and chromium-driver"; \
	get() { $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		chromium chromium-driver fonts-liberation </dev/null; }; \
	get || { $$sudo apt-get update -q </dev/null && get; } && \
	test -x /usr/bin/chromium && test -x /usr/bin/chromedriver

demo: install
	$(BIN)/python -m pulla_dev.demo $(DEMO_ARGS)

airflow: install
	$(BIN)/python -m pulla_dev.airflow_local $(AIRFLOW_ARGS)

# Benchmarks print figures and ratios against their targets; they are not part of `make test`.
bench: install
	$(BIN)/python -m pulla_dev.bench $(BENCH_EXPORT_ARGS)
	$(BIN)/python -m personalize_local.bench $(BENCH_ENDPOINT_ARGS)
