# Set-up is part of every target: a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCENARIO ?= cpu
ARGS ?=
RUN ?= latest
# Folder of run folders: where `bench` writes and where `latest` is looked up.
OUT ?= results
ENGINE ?= dask
STAMP := $(VENV)/.installed-stamp
FIXTURES ?=
# The set-up installs uv.lock (every package, pinned, with hashes) with uv, which pip puts in
# the venv; uv's version is pinned here so `make lock` and its check read the lock alike.
UV_VERSION ?= 0.13.9
UV_BIN := $(BIN)/uv
# uv syncs this venv (VENV may be elsewhere), with the Python it was made with
UV := UV_PROJECT_ENVIRONMENT=$(abspath $(VENV)) UV_PYTHON_DOWNLOADS=never $(UV_BIN)

.PHONY: lock lock-upgrade bench report tune test test-fast lint docs fixtures overhead timeline-cost load cluster-up cluster-down clean help

help:
	@echo "make bench SCENARIO=cpu [ARGS='--quick']  run a scenario, then render its report PDF"
	@echo "make report RUN=results/<run-id>          render the report of a run"
	@echo "make tune SPEC=examples/tune/tiny.toml IMPORT=tunedemo  race the ways to run your function, then its report"
	@echo "make test                                 lint and run the test suite"
	@echo "make test-fast                            lint and run the tests of pure logic alone (no engine)"
	@echo "make docs                                 build the documentation site into site/ (strict)"
	@echo "make fixtures [FIXTURES='io-w1 format1']  remake the stored runs the tests read"
	@echo "make overhead                             the harness's own overhead against bare loops"
	@echo "make timeline-cost                        what the timeline pass adds to a cpu and an io case"
	@echo "make load                                 150 cases and 100,000 tiny tasks: the harness's own memory"
	@echo "make cluster-up ENGINE=dask|ray / cluster-down"
	@echo "make lock                                 update uv.lock after editing pyproject.toml's dependencies"
	@echo "make lock-upgrade                         move every pin in uv.lock to the newest version pyproject allows"

# Set-up installs exactly uv.lock: the whole tree (runtime and the `dev` extra) pinned with
# hashes for every platform and Python >= 3.10, so two machines set up a month apart measure
# the same packages, and a run records the lock's hash (software.lock_sha256 in run.json).
# pyproject.toml keeps ranges, for `pip install concurrency-harness`.
# A pyproject.toml whose dependencies the lock no longer matches stops here with one line
# (checked offline, in milliseconds) rather than re-locking: a re-lock would resolve against
# the registry of that day and leave a venv, and runs, from a lock no commit holds.
$(UV_BIN):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV_BIN)
	@$(UV) lock --check --offline --quiet 2>/dev/null || { echo "uv.lock does not match \
	pyproject.toml's dependencies: run \`make lock\` and commit uv.lock" >&2; exit 1; }
	@# the distribution was called `harness` before 0.3: sync removes it, but its metadata
	@# in the checkout is seen whenever the checkout is on sys.path, with its entry points
	rm -rf harness.egg-info $(VENV)/lock.sha256
	@# bytecode now, as pip did: else a run's first processes pay for compiling it
	$(UV) sync --locked --extra dev --compile-bytecode --quiet
	@# the checkout's own modules too: every case process imports them, and where
	@# PYTHONDONTWRITEBYTECODE is set each would compile them again (20-30 ms a process)
	$(BIN)/python -m compileall -q harness
	@$(BIN)/python -c "import hashlib; print(hashlib.sha256(open('uv.lock', 'rb').read()).hexdigest())" > $(VENV)/lock.sha256
	@touch $(STAMP)

# The lock's smallest change after an edit of pyproject.toml: other pins stay.
lock: | $(UV_BIN)
	$(UV) lock

lock-upgrade: | $(UV_BIN)
	$(UV) lock --upgrade

bench: $(STAMP)
	$(BIN)/harness run $(SCENARIO) --out $(OUT) $(ARGS)
	$(BIN)/harness report latest --results $(OUT)

report: $(STAMP)
	$(BIN)/harness report $(RUN) --results $(OUT)

# The fastest way to run your function here: a race (docs/tune.md), then its report PDF.
# SPEC is a spec naming it, IMPORT its module (found beside the spec), e.g.
# make tune SPEC=examples/tune/tiny.toml IMPORT=tunedemo ARGS="--budget 2m"
SPEC ?= examples/tune/tiny.toml
IMPORT ?= tunedemo
tune: $(STAMP)
	cd $(dir $(SPEC)) && $(abspath $(BIN))/harness tune $(notdir $(SPEC)) --import $(IMPORT) \
		--out $(abspath $(OUT)) $(ARGS)
	$(BIN)/harness report latest --results $(OUT)

# ruff, then mypy over harness/ (its settings: [tool.mypy] in pyproject.toml). mypy is
# strict on the ground floor (protocol, units, case, graph, measure/stats): the contracts
# every other floor builds on, kept free of untyped defs and of Any leaking out. The rest is
# checked at a baseline: annotated functions' bodies, not unannotated ones, and libraries
# without types (pandas, pyarrow, scipy, seaborn, loky) read as Any.
lint: $(STAMP)
	$(BIN)/ruff check harness tests benchmarks
	$(BIN)/ruff format --check harness tests benchmarks
	$(BIN)/mypy harness

# The documentation site (mkdocs.yml, docs/): strict, so a broken link, anchor or page fails.
# `make test` builds it too (tests/test_docs.py). The variables quiet a notice the docs
# plugins print about a future MkDocs 2; the docs extra keeps MkDocs below 2.
MKDOCS_ENV := NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true
docs: $(STAMP)
	$(MKDOCS_ENV) $(BIN)/mkdocs build --strict

# Three pytest workers on two cores: much of a test's time is an engine starting or a case
# waiting out its timeout, which leaves a core idle (the same tests here: 448 s at -n 2,
# 405 s at -n 4; three keep most of that gain with less contention). A file's tests stay
# on one worker (loadfile): module and session runs are made once, and the multi-host
# tests (test_cluster_hosts.py), whose namespaces have fixed names, run one after another.
TEST_WORKERS ?= 3
test: lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# The tests of pure logic alone (marker `fast`): no engine, no case process, under a minute.
test-fast: lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m fast

# Real quick runs, stored under tests/fixtures/runs/ for the compare/report/claims tests.
fixtures: $(STAMP)
	$(BIN)/python tests/fixtures/make_fixtures.py $(FIXTURES)

overhead: $(STAMP)
	$(BIN)/python benchmarks/overhead.py

timeline-cost: $(STAMP)
	$(BIN)/python benchmarks/timeline_cost.py

load: $(STAMP)
	$(BIN)/python benchmarks/load.py

cluster-up: $(STAMP)
	$(BIN)/harness cluster up $(ENGINE) $(ARGS)

cluster-down: $(STAMP)
	$(BIN)/harness cluster down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
