# The two commands a newcomer runs are `make demo` and `make test`; everything installs itself into .venv.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lint format test demo airflow bench

install: $(STAMP)

# Reinstalls only when the pins or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11" >&2; exit 2; }
	@# A venv made without ensurepip (Debian without python3.11-venv) has no pip: make it again.
	$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/python -m pulla_personalize.demo $(DEMO_ARGS)

airflow: install
	$(BIN)/python -m pulla_personalize.airflow_local $(AIRFLOW_ARGS)

# Benchmarks print figures and ratios against their targets; they are not part of `make test`.
bench: install
	$(BIN)/python -m pulla_personalize.bench $(BENCH_EXPORT_ARGS)
	$(BIN)/python -m personalize_local.bench $(BENCH_ENDPOINT_ARGS)
