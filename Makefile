# afunet: every table and figure of the paper, rebuilt from one command each.
# `make help` lists the targets. Variables: PROFILE (smoke|cpu|paper), DATA (data root).

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
AFUNET  := $(VENV)/bin/afunet
STAMP   := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv test lint data bench model-table lab paper clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

venv: $(STAMP) ## Create .venv and install the project with its test extras

lint: $(STAMP) ## Run ruff on the package, tests and notebooks
	$(VENV)/bin/ruff check afunet tests notebooks

test: $(STAMP) lint ## Run the whole test suite (creates .venv on first use)
	$(VENV)/bin/pytest -q tests

data: $(STAMP) ## Say which data sets are present, and verify them
	$(AFUNET) data list
	$(AFUNET) data verify

bench: $(STAMP) ## Benchmark the six models at width 16, 512x512, on this machine
	$(AFUNET) bench --models all --width 16 --size 512 --out results/bench/

model-table: $(STAMP) ## Parameters and GFLOPs of the six models (README table)
	$(PY) -m afunet.models.table --widths 64 16 --size 512 --readme README.md

lab: $(STAMP) ## Open JupyterLab on the project's environment (kernel "afunet")
	$(VENV)/bin/pip install --quiet -e '.[notebooks]'
	$(PY) -m ipykernel install --user --name afunet --display-name "Python (afunet)"
	$(VENV)/bin/jupyter lab notebooks/

paper: $(STAMP) ## Run the whole study (PROFILE=smoke|cpu|paper)
	@echo "The papermill pipeline is not there yet: see issue 5."

clean: ## Remove executed notebooks and smoke outputs (never results of record)
	rm -rf build results/smoke figures/smoke
