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

PEERS := .venv-peers/.installed-stamp
$(PEERS): benchmarks/peers-requirements.txt
	$(PYTHON) -m venv .venv-peers
	.venv-peers/bin/python -m pip install --quiet -r benchmarks/peers-requirements.txt
	touch $(PEERS)

# benchmarks, not tests: pipeline at 0.025/0.25/1.0 x Seoul, then matching side by side with peers
bench: $(STAMP) $(PEERS)
	$(BIN)/python benchmarks/run_benchmarks.py
	$(BIN)/python benchmarks/bench_matching.py

clean:
	rm -rf $(VENV) .venv-peers runs .pytest_cache

# regenerate the committed manifest of the default world (after a deliberate change to the generator)
manifest: $(STAMP)
	$(BIN)/python -m analysis synth --out runs/manifest-world --quiet
	cp runs/manifest-world/manifest.json data/synthetic/default_manifest.json
