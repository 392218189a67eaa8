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

# Spark's tests need Java 17: installed from Debian's packages where it is missing and apt-get can (as root);
# elsewhere those tests are skipped with a message saying so
test: $(STAMP)
	@command -v java >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null; } || \
	  echo "make test: no Java 17 could be installed; the Spark engine's tests will be skipped"
	$(BIN)/python -m pytest -q

# the main job: pipeline (into OUT, the closed room), notebooks (executed into OUT/notebooks, figures into
# figures/), then the release-checked figures, estimates and reports (figures/, reports/)
report: $(STAMP)
	$(BIN)/python -m analysis run --config study.toml --out $(OUT)
	$(BIN)/python -m analysis notebooks --config study.toml --run $(OUT)
	$(BIN)/python -m analysis report --config study.toml --run $(OUT)

lint: $(STAMP)
	$(BIN)/ruff check analysis tests benchmarks

PEERS := .venv-peers/.installed-stamp
$(PEERS): benchmarks/peers-requirements.txt
	$(PYTHON) -m venv .venv-peers
	.venv-peers/bin/python -m pip install --quiet -r benchmarks/peers-requirements.txt
	touch $(PEERS)

# the DiD peers (csdid, differences, moderndid) have their own environment; moderndid 0.4 needs Python 3.12+,
# so it is built with the first Python >= 3.12 found (python3.13, python3.12, pyenv's), else $(PYTHON)
# (and then moderndid is skipped: its requirement carries a python_version marker)
DID_PEERS  := .venv-did-peers/.installed-stamp
DID_PYTHON ?= $(shell for p in python3.13 python3.12 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3; do \
	$$p -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && echo $$p && break; done)
$(DID_PEERS): benchmarks/did-peers-requirements.txt
	$(or $(DID_PYTHON),$(PYTHON)) -m venv .venv-did-peers
	.venv-did-peers/bin/python -m pip install --quiet --upgrade "pip>=24"
	.venv-did-peers/bin/python -m pip install --quiet -r benchmarks/did-peers-requirements.txt
	touch $(DID_PEERS)

# benchmarks, not tests: pipeline at 0.025/0.25/1.0 x Seoul, then matching and staggered DiD side by side
# with peers (bench_did.py --seoul adds the full-scale panel and our att_gt on it)
bench: $(STAMP) $(PEERS) $(DID_PEERS)
	$(BIN)/python benchmarks/run_benchmarks.py
	$(BIN)/python benchmarks/bench_matching.py
	$(BIN)/python benchmarks/bench_did.py

clean:
	rm -rf $(VENV) .venv-peers .venv-did-peers runs .pytest_cache

# regenerate the committed manifest of the default world (after a deliberate change to the generator)
manifest: $(STAMP)
	$(BIN)/python -m analysis synth --out runs/manifest-world --quiet
	cp runs/manifest-world/manifest.json data/synthetic/default_manifest.json
