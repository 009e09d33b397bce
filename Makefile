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

.PHONY: bench report test test-fast lint docs fixtures overhead timeline-cost load cluster-up cluster-down clean help

help:
	@echo "make bench SCENARIO=cpu [ARGS='--quick']  run a scenario, then render its report PDF"
	@echo "make report RUN=results/<run-id>          render the report of a run"
	@echo "make test                                 lint and run the test suite"
	@echo "make test-fast                            lint and run the tests of pure logic alone (no engine)"
	@echo "make docs                                 build the documentation site into site/ (strict)"
	@echo "make fixtures [FIXTURES='io-w1 format1']  remake the stored runs the tests read"
	@echo "make overhead                             the harness's own overhead against bare loops"
	@echo "make timeline-cost                        what the timeline pass adds to a cpu and an io case"
	@echo "make load                                 150 cases and 100,000 tiny tasks: the harness's own memory"
	@echo "make cluster-up ENGINE=dask|ray / cluster-down"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@# the distribution was called `harness` before 0.3: drop it and its metadata in the
	@# checkout (seen whenever the checkout is on sys.path), so its entry points go too
	@$(BIN)/python -m pip uninstall --quiet --yes harness 2>/dev/null || true
	rm -rf harness.egg-info
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

bench: $(STAMP)
	$(BIN)/harness run $(SCENARIO) --out $(OUT) $(ARGS)
	$(BIN)/harness report latest --results $(OUT)

report: $(STAMP)
	$(BIN)/harness report $(RUN) --results $(OUT)

# ruff, then mypy over harness/ (its settings: [tool.mypy] in pyproject.toml). mypy is
# strict on the ground floor (protocol, units, case, graph, measure/stats): the contracts
# every other floor builds on, kept free of untyped defs and of Any leaking out. The rest is
# checked at a baseline: annotated functions' bodies, not unannotated ones, and libraries
# without types (pandas, pyarrow, scipy, seaborn, loky) read as Any.
lint: $(STAMP)
	$(BIN)/ruff check harness tests benchmarks
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
