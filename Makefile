# Two entry points, each self-installing on a fresh machine with Python 3.11+:
#   make report   -> .venv, install, run the main job on the default synthetic world
#   make test     -> .venv, install, run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUT    ?= runs/default

.PHONY: install test report lint bench clean manifest

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

report: $(STAMP)
	$(BIN)/python -m analysis run --config study.toml --out $(OUT)

lint: $(STAMP)
	$(BIN)/ruff check analysis tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run_benchmarks.py

clean:
	rm -rf $(VENV) runs .pytest_cache

# regenerate the committed manifest of the default world (after a deliberate change to the generator)
manifest: $(STAMP)
	$(BIN)/python -m analysis synth --out runs/manifest-world --quiet
	cp runs/manifest-world/manifest.json data/synthetic/default_manifest.json
