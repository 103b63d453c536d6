# The study, end to end: data -> runs -> report pages -> site.   `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# A failed recipe leaves no target behind: mkdocs writes site/ before --strict aborts, and a
# site/index.html left there would let the next `make site` or `make dist` pass.
.DELETE_ON_ERROR:

PROFILE ?= standard
DATA_DIR ?= data/msl-images
BACKEND ?= local
RUN ?=
ARGS ?=
SKIP_BAD ?=
IMAGES ?=
PORT ?= 8000
# make test: pytest-xdist workers (auto: one per core; 0: every test in one process)
TEST_WORKERS ?= auto
DATAFLAGS := $(if $(SKIP_BAD),--skip-bad-entries)
export DATA_DIR PROFILE BACKEND
export NO_MKDOCS_2_WARNING := 1

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUNNER := $(PY) -m runner
SITE_INPUTS := $(shell find report templates hooks -type f 2>/dev/null) mkdocs.yml \
               $(shell find results/$(PROFILE) -name run.json -o -name summary.json 2>/dev/null)

.PHONY: help venv data check run results pages site all serve dist browser test bench lint format status clean predict mutate lock preflight serving-env

help: ## list the targets and the variables they take
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'
	@echo "variables: PROFILE=$(PROFILE) (smoke|quick|standard|full)  DATA_DIR=$(DATA_DIR)"
	@echo "           RUN=<run name>  BACKEND=$(BACKEND) (local|sagemaker)  ARGS=<runner flags>"
	@echo "           SKIP_BAD=1 (skip malformed split-list lines, listed on the EDA page)"
	@echo "           ARGS=-v (the full notebook log on the console)  DATA_URL=<mirror of the archive>"
	@echo "           IMAGES=<image files or folders> (make predict)  PORT=$(PORT) (make serve)"
	@echo "           TEST_WORKERS=$(TEST_WORKERS) (make test: pytest-xdist workers; 0: one process)"

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name msl-study --display-name "Python (msl-study)" >/dev/null
	touch $@

venv: $(STAMP) ## create .venv and install the pinned dependencies (idempotent)

data: $(STAMP) ## download (resuming; DATA_URL=<mirror>) and verify the data set into DATA_DIR if missing
	$(RUNNER) data

check: $(STAMP) ## validate the data directory (decoding every image) and the plan; runs nothing
	$(RUNNER) check --profile $(PROFILE) $(DATAFLAGS)

run: $(STAMP) ## run one run of the plan: make run RUN=kernel-5x5 [PROFILE=quick]
	@test -n "$(RUN)" || { echo "usage: make run RUN=<name> (see plan.yaml)"; exit 2; }
	$(RUNNER) run $(RUN) --profile $(PROFILE) --backend $(BACKEND) $(DATAFLAGS) $(ARGS)

results: $(STAMP) ## run every run of the plan that is not up to date
	$(RUNNER) run --profile $(PROFILE) --backend $(BACKEND) $(DATAFLAGS) $(ARGS)

pages: $(STAMP) ## render report/ pages from results/PROFILE
	$(RUNNER) render --profile $(PROFILE)

# Never --quiet: MkDocs 1.6 drops warnings before --strict counts them (a broken link passed).
site/index.html: $(STAMP) $(SITE_INPUTS)
	$(VENV)/bin/mkdocs build --strict

site: pages site/index.html ## build the static site into site/ (mkdocs build --strict)

all: data check results site ## everything: data check -> runs -> pages -> site

dist: site/index.html ## zip the site of the pages last rendered into dist/site.zip (opens from disk)
	$(PY) -m runner.dist site dist/site.zip

lock: $(STAMP) ## hash-lock the SageMaker job's packages from pyproject.toml (PyPI; runner/backends/sagemaker/container/requirements.lock)
	$(PY) -m runner.backends.sagemaker.lock $(ARGS)

preflight: $(STAMP) ## check the AWS account before anything is uploaded: make preflight BACKEND=sagemaker
	$(RUNNER) preflight --backend $(BACKEND) $(ARGS)

serving-env: $(STAMP) ## the serving image's TensorFlow (2.20) in build/serving-tf2.20/, where the tests load the export
	$(PY) -m tests.serving_env

serve: $(STAMP) ## serve the report at http://127.0.0.1:8000 (PORT=<port> for another)
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:$(PORT)

# The plan's published profile unless PROFILE is given on the command line or environment.
predict: $(STAMP) ## top-3 classes per image from a saved model: make predict IMAGES=<files/folders> [RUN=cnn]
	@test -n "$(IMAGES)" || { echo "usage: make predict IMAGES=<image files or folders> [RUN=cnn] [PROFILE=...] [ARGS=--json]"; exit 2; }
	$(RUNNER) predict $(IMAGES) --run $(or $(RUN),cnn) $(if $(filter command line environment,$(origin PROFILE)),--profile $(PROFILE)) $(ARGS)

status: $(STAMP) ## which runs of PROFILE are up to date
	$(RUNNER) status --profile $(PROFILE)

browser: ## install Debian's chromium for the browser tests (apt-get, idempotent)
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || ! command -v sudo >/dev/null || echo sudo ); \
	  $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends chromium; }

test: $(STAMP) browser serving-env ## lint and run the test suite (installs what it needs)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -n $(TEST_WORKERS) $(ARGS)

bench: $(STAMP) ## performance figures: training throughput, cache, no-op make (bench/results.json)
	$(PY) -m bench.run $(ARGS)
	$(PY) -m bench.layers

mutate: $(STAMP) ## mutation testing of the statistics, model, study, training and run-record modules (score, survivors)
	$(PY) -m tests.mutation_score $(ARGS)

lint: $(STAMP) ## ruff check and format check
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(STAMP) ## format the code with ruff
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

clean: ## remove build outputs (site, dist); results and cache stay
	rm -rf site dist
