# afunet: every table and figure of the paper, rebuilt from one command each.
# `make help` lists the targets. Variables: PROFILE (a profile of afunet/profiles.py), DATA (data root).

PYTHON  ?= python3
# DATA=DIR points every target at a data root; without it, $AFUNET_DATA, else data/.
ifdef DATA
export AFUNET_DATA := $(abspath $(DATA))
endif
VENV    := .venv
PY      := $(VENV)/bin/python
AFUNET  := $(VENV)/bin/afunet
STAMP   := $(VENV)/.installed

# What a profile's study holds comes from afunet/profiles.py, asked with the system's Python
# (afunet.study needs no install and no torch), so nothing about a profile is written here.
STUDY   := $(PYTHON) -m afunet.study
# cuda when nvidia-smi sees a GPU, else cpu: asked once, used by PROFILE and bench.
DEVICE  := $(shell nvidia-smi -L >/dev/null 2>&1 && echo cuda || echo cpu)
PROFILE ?= $(shell $(STUDY) default --device $(DEVICE))
PROFILES = $(shell $(STUDY) profiles | paste -sd'|' -)
# papermill without kernel noise: encrypted channels, shut down once idle (afunet/reporting/notebooks.py).
PAPERMILL := $(PY) -m afunet.reporting.notebooks run
BUILD   := build/$(PROFILE)
RESULTS := results/$(PROFILE)
# Runs trained side by side: 1 on a small CPU (two would share its cores), more on a GPU.
JOBS    ?= 1
# Where `make paper` and `make runs` train: local (a Make target per run, JOBS side by side),
# gpus (one run per GPU here) or slurm (a job array); the last two through `afunet study run`
# (afunet/launch.py), which takes LAUNCH_ARGS, e.g. "--partition gpu --time 45".
EXECUTOR ?= local
LAUNCH_ARGS ?=
RUNS     = $(shell $(STUDY) list --profile $(PROFILE))
ABLATION = $(shell $(STUDY) get ablation --profile $(PROFILE))
DATASETS = $(shell $(STUDY) datasets)

.DEFAULT_GOAL := help
.PHONY: help venv test test-cluster lint data data-check bench model-table lab paper runs tables table1 \
	table2 figures figure2 efficiency ablation readme publish general cache clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_%-][a-zA-Z0-9_% -]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

venv: $(STAMP) ## Create .venv and install the project with its test extras

lint: $(STAMP) ## Run ruff on the package, tests and notebooks
	$(VENV)/bin/ruff check afunet tests notebooks

test: $(STAMP) lint ## Run the whole test suite: unit tests, `make paper PROFILE=smoke`, every notebook
	$(PY) scripts/prepare_notebooks.py build/ci-notebooks
	$(VENV)/bin/pytest -q tests build/ci-notebooks --nbval-lax -p no:cacheprovider --durations=10

# Needs root: installs slurm-wlm and munge if missing, starts and stops the daemons itself.
test-cluster: $(STAMP) ## The SLURM test: a one-node cluster here runs `make paper PROFILE=smoke EXECUTOR=slurm` (DATA=...)
	bash scripts/test_cluster.sh

data: $(STAMP) ## Say which data sets are present, and verify them
	$(AFUNET) data list
	$(AFUNET) data verify

# The CSV is named after the device timed, so a GPU machine never overwrites the CPU's.
bench: $(STAMP) ## Benchmark the six models at width 16, 512x512, on this machine (CSV in results/bench/)
	$(AFUNET) bench --models all --width 16 --size 512 --device $(DEVICE) \
		--out results/bench/bench_w16_512_$(DEVICE).csv

model-table: $(STAMP) ## Parameters and GFLOPs of the six models (README table)
	$(PY) -m afunet.models.table --widths 64 16 --size 512 --readme README.md

lab: $(STAMP) ## Open JupyterLab on the project's environment (kernel "afunet")
	$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[notebooks]'
	$(PY) -m ipykernel install --user --name afunet --display-name "Python (afunet)"
	$(VENV)/bin/jupyter lab notebooks/

paper: $(STAMP) ## Run the whole study: data check, every run, tables, figures, published notebooks (PROFILE=..., EXECUTOR=local|gpus|slurm)
	@echo "make paper: profile '$(PROFILE)' ($(words $(RUNS)) runs; PROFILE=$(PROFILES) to choose$(if $(filter-out local,$(EXECUTOR)),; executor $(EXECUTOR)))"
	$(MAKE) --no-print-directory data-check
	@$(MAKE) --no-print-directory -k -j $(JOBS) runs || echo "make paper: some runs failed (see above); tables use the runs that finished"
	$(MAKE) --no-print-directory tables figures publish

ifeq ($(EXECUTOR),local)
runs: $(RUNS:%=$(RESULTS)/runs/%/summary.json) ## Train and evaluate every run of the profile not yet done
else
runs: $(STAMP)
	$(AFUNET) study run --profile $(PROFILE) --executor $(EXECUTOR) $(LAUNCH_ARGS)
endif

# One run: train (resumable), evaluate on both test sets, file its results (notebook 02).
# e.g. make results/cpu/runs/drive-afunet-s0/summary.json, or make run-drive-afunet-s0
$(RESULTS)/runs/%/summary.json: | $(STAMP)
	@mkdir -p $(BUILD)/runs
	$(PAPERMILL) notebooks/02_train.ipynb $(BUILD)/runs/$*.ipynb -p profile $(PROFILE) -p run $* -p file_results True \
		-p require_data True -p progress False

run-%: ## Train and evaluate one run, e.g. make run-drive-afunet-s0 PROFILE=cpu
	$(MAKE) --no-print-directory $(RESULTS)/runs/$*/summary.json

data-check: $(STAMP) ## Check that the study's data sets (DRIVE and STARE) are present
	$(foreach d,$(DATASETS),$(AFUNET) data verify $(d) &&) true

tables: table1 $(if $(ABLATION),ablation) readme ## Every table, from results/ alone (no training; the ablation where the profile has one)

readme: $(STAMP) ## README's results block of the profile, from results/ alone (if the README has one)
	$(PY) -m afunet.reporting.readme --profile $(PROFILE)

table1 table2: $(STAMP) ## Table 1 (DRIVE) and 2 (STARE), cross-data-set, paired tests, PR curves
	@mkdir -p $(BUILD)
	$(PAPERMILL) notebooks/03_tables.ipynb $(BUILD)/03_tables.ipynb -p profile $(PROFILE)

figures: figure2 efficiency ## Every figure (Figure 2, efficiency), from results/ (Figure 2 also reads the test images)

figure2: $(STAMP) ## Figure 2: segmentations with red/green boxes, overlays, worst region
	@mkdir -p $(BUILD)
	$(foreach d,$(DATASETS),$(PAPERMILL) notebooks/04_qualitative.ipynb $(BUILD)/04_qualitative_$(d).ipynb -p profile $(PROFILE) -p dataset $(d) -p strict True &&) true

efficiency: $(STAMP) ## Parameters, FLOPs, latency, training time, accuracy against cost
	@mkdir -p $(BUILD)
	$(PAPERMILL) notebooks/05_efficiency.ipynb $(BUILD)/05_efficiency.ipynb -p profile $(PROFILE)

ablation: $(STAMP) ## AF-UNet's asymmetric-skip variants (adjacent, first, none) on DRIVE
	@mkdir -p $(BUILD)
	$(PAPERMILL) notebooks/06_ablation.ipynb $(BUILD)/06_ablation.ipynb -p profile $(PROFILE)

# Only profiles of record publish (afunet/profiles.py); run after tables and figures.
publish: $(STAMP) ## Render build/<profile>/'s executed notebooks as pages in notebooks/executed/<profile>/ (GitHub shows them)
	$(PY) -m afunet.reporting.notebooks publish --profile $(PROFILE)

# Three runs of the cpu recipe with camera augmentations, about 1.5 hours on 2 cores; each resumes.
general: $(STAMP) ## The general-purpose model of `afunet predict`: train, choose, evaluate, export (results/general/)
	$(PY) -m afunet.general train
	$(PY) -m afunet.general select
	$(PY) -m afunet.general evaluate
	$(PY) -m afunet.general export

# PACK="drive-train-native drive-test-native stare-test-native" packs only what DRIVE runs read.
cache: $(STAMP) ## Decode DRIVE and STARE into .devcache/, packed for a GPU machine (carry .devcache/pack)
	$(PY) -m afunet.data.cache --names $(DATASETS) --cache-dir .devcache/paper
	$(PY) scripts/pack_devcache.py .devcache/paper .devcache/pack/paper.tar.xz $(PACK)

clean: ## Remove executed notebooks and smoke outputs (never results of record)
	rm -rf build results/smoke figures/smoke results/lab figures/lab
