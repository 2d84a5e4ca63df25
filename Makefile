# Two commands do all set-up on a fresh machine:
#   make demo   runs the seed's example DAG end to end and prints each task's XCom
#   make test   runs every test tier (unit, fake HF API, llama.cpp, Airflow UI in Chromium, Celery), then
#               the quick tiers again on huggingface_hub 1.x (make test-hub1)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# llama-cpp-python has no wheel on PyPI for this platform: it builds from source (about 4 min
# on 2 cores, then pip's wheel cache makes a reinstall take seconds).
LLAMA_CPP := llama-cpp-python[server]==0.3.36
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF
# Airflow's common-ai provider pins huggingface_hub<2, so a second venv holds the newest 1.x and runs
# the quick tiers: about 120 s from a clean clone, 90 s once installed. The soak and scheduler tiers
# pass on 1.x too but add about 20 s each; llama.cpp and the browser would need their big installs.
HUB1_VENV := .venv-hub1
HUB1_BIN  := $(HUB1_VENV)/bin
HUB1_HUB  := huggingface_hub>=1.26.1,<2
HUB1_TIER := not llama and not browser and not soak and not scheduler

.PHONY: test test-fast test-hub1 test-scale scale-services demo lint bench install llama chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.llama: $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet '$(LLAMA_CPP)'
	touch $@

$(HUB1_BIN)/python:
	$(PYTHON) -m venv $(HUB1_VENV)
	$(HUB1_BIN)/python -m pip install --quiet --upgrade pip

$(HUB1_VENV)/.installed: $(HUB1_BIN)/python pyproject.toml
	$(HUB1_BIN)/pip install --quiet -e '.[test]' '$(HUB1_HUB)'
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

test: install llama chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-scale
	$(MAKE) --no-print-directory test-hub1

# Airflow on the CeleryExecutor with two workers, PostgreSQL and Redis. Opt-in by marker: the plain
# pytest run above leaves it out.
test-scale: install scale-services
	$(BIN)/python -m pytest -m scale tests/scale $(PYTEST_ARGS)

# The same provider on huggingface_hub 1.x (its own venv; pip's cache makes the install quick).
test-hub1: $(HUB1_VENV)/.installed
	$(HUB1_BIN)/python -m pytest -m "$(HUB1_TIER)" $(PYTEST_ARGS)

# The quick tiers: no llama.cpp, no browser, no soak, no Airflow processes.
test-fast: install
	$(BIN)/python -m pytest -m "not llama and not browser and not soak and not scheduler" $(PYTEST_ARGS)

# The llama.cpp build is needed only when the demo does not use the Hugging Face router.
demo: install
	@if [ -z "$$HF_TOKEN" ]; then $(MAKE) --no-print-directory llama; fi
	$(BIN)/python -m dev.demo

bench: install llama
	$(BIN)/python bench/run_all.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(HUB1_VENV) .pytest_cache .ruff_cache .mypy_cache artifacts .airflow-demo
