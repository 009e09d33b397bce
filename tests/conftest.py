"""Shared fixtures. Engines are real: a run starts real pools, a Dask LocalCluster and Ray.

Tests about what is done with measurements (compare, report, claims, export) read stored
runs instead: real quick runs kept under tests/fixtures/runs/ (see make_fixtures.py there).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import psutil
import pytest

BIN = Path(sys.executable).parent
HARNESS = str(BIN / "harness")
REPO = Path(__file__).resolve().parent.parent
#: Stored runs: one folder per run, named for what it holds (`make fixtures` remakes them).
STORED = REPO / "tests" / "fixtures" / "runs"


def stored_run(name: str) -> Path:
    """A stored run, read in place: tests that change a run copy it (`stored_copy`)."""
    path = STORED / name
    assert (path / "run.json").is_file(), f"no stored run {name!r}: run `make fixtures`"
    return path


@pytest.fixture(scope="session", autouse=True)
def _stored_runs_stay_as_they_are():
    """A test that writes into a stored run (a report without -o does) fails the session."""

    def listing() -> dict[str, tuple[int, int]]:
        return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in STORED.rglob("*")}

    before = listing()
    yield
    assert listing() == before, "a test changed tests/fixtures/runs: copy a run first"


def only_run(out: Path) -> Path:
    """The one run folder a test's `--out` folder holds."""
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def stored_copy(name: str, to: Path) -> Path:
    """A copy of a stored run at `to`, for a test that damages or extends it."""
    shutil.copytree(stored_run(name), to)
    return to


#: Every harness the tests start carries this in its environment, and so does every process
#: it starts: leftovers are found by it, without mistaking other runs on the machine for ours.
MARK = "HARNESS_TEST_MARK"
SESSION_MARK = uuid.uuid4().hex


def harness(
    *args: str,
    cwd: Path | None = None,
    timeout: float = 900,
    mark: str = SESSION_MARK,
    env: dict[str, str] | None = None,
):
    """Run the CLI as a user would, `env` added to ours; returns the CompletedProcess."""
    return subprocess.run(
        [HARNESS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO,
        env={**os.environ, **(env or {}), MARK: mark},
    )


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI's own entry point called in this process: exit code, stdout and stderr as
    `harness()` returns them, without the 1-2 s start of a fresh interpreter per call.

    Only for commands that read and write files (compare, report, export, claims, show) and
    for bad input, which must fail before anything starts. Anything that runs cases, starts
    engines or needs its own process (signals, --debug) goes through `harness()`. As in a
    fresh interpreter, the consoles see pipes (no colour, no terminal width) and warnings
    are filtered as Python does by default and printed to stderr, where tests see them.
    """
    assert "--debug" not in args, "--debug changes the CLI's state: use harness()"
    assert not args or args[0] != "cluster", "clusters start processes: use harness()"
    out, err = _pipe(), _pipe()
    code: int | str | None = 0
    with (
        _piped(out, err),
        _chdir(cwd or REPO),
        _no_run_starts(),
        warnings.catch_warnings(record=True) as seen,
    ):
        _python_default_warning_filters()
        cli_module = _cli_module()
        saved_argv, sys.argv = sys.argv, ["harness", *args]
        try:
            cli_module.main()
        except SystemExit as exc:
            code = exc.code
        finally:
            sys.argv = saved_argv
    shown = "".join(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in seen
    )
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return subprocess.CompletedProcess(
        ["harness", *args], returncode, _read(out), _read(err) + shown
    )


@contextlib.contextmanager
def _no_run_starts() -> Iterator[None]:
    """`harness run` in-process is for bad input only: a run that passes its checks fails
    the test here, before any case starts in the test's own process."""
    from harness.execute import runner

    def refuse(*_args, **_kwargs):
        raise AssertionError("cli(): a run got past its checks; runs go through harness()")

    with mock.patch.object(runner.Run, "execute", refuse):
        yield


def _pipe() -> io.TextIOWrapper:
    """Like a process's stdout on a pipe: text, with the bytes under it in `.buffer`."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)


def _read(stream: io.TextIOWrapper) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]


def _cli_module():
    """harness.cli, imported while stdout and stderr are pipes: its consoles are made as in a
    process whose output a test reads (no colour, fixed width), also under `pytest -s`."""
    if "harness.cli" not in sys.modules:
        with _piped(_pipe(), _pipe()):
            import harness.cli  # noqa: F401
    return sys.modules["harness.cli"]


@contextlib.contextmanager
def _piped(out: io.TextIOWrapper, err: io.TextIOWrapper) -> Iterator[None]:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _python_default_warning_filters() -> None:
    """The filters of a fresh interpreter (pytest's own are stricter, and record warnings)."""
    warnings.resetwarnings()
    for category in (ResourceWarning, ImportWarning, PendingDeprecationWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")


def listening(pids) -> set[tuple[str, int]]:
    """The (address, port) pairs the processes `pids` and their descendants listen on (TCP)."""
    procs: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs.update({p.pid: p for p in [root, *root.children(recursive=True)]})
        except psutil.Error:
            continue
    found = set()
    for proc in procs.values():
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.Error:
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
    return found


def not_on_loopback(pairs: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """The pairs that other hosts could reach: any address but 127.0.0.0/8 and ::1."""
    from harness.backends.launch import is_loopback

    return {pair for pair in pairs if not is_loopback(pair[0])}


def marked(mark: str = SESSION_MARK) -> list[psutil.Process]:
    """Live processes started by a harness that carried this mark."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARK) == mark and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


@pytest.fixture
def mark():
    """Every process the test's cases start carries the mark; none may be left after it."""
    from harness.measure.proctree import terminate

    value = uuid.uuid4().hex
    os.environ[MARK] = value
    try:
        yield value
    finally:
        del os.environ[MARK]
        leftovers = marked(value)
        terminate(leftovers)
        assert leftovers == [], [p.cmdline() for p in leftovers]


@pytest.fixture(scope="session")
def cpu_run(tmp_path_factory) -> Path:
    """One quick run of the cpu scenario across the default built-in backends, shared by many
    tests (a backend another installed package adds is that package's to test)."""
    from harness import backends, spec

    builtins = [b for b in spec.load("cpu").backends if b in backends.BUILTINS]
    out = tmp_path_factory.mktemp("results")
    proc = harness("run", "cpu", "--quick", "--backends", ",".join(builtins), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


#: The test files that take longest (seconds of engines starting and cases waiting out their
#: time), longest first. `make test` hands whole files to its workers in collection order,
#: and alphabetical order left the tune, user-code and walking-skeleton files for last: a
#: worker started one of them when the others were nearly done, and the suite waited on it.
#: Starting the longest first (LPT scheduling) keeps the workers' ends close together.
LONGEST_FIRST = [
    "test_cluster.py",
    "test_scenarios.py",
    "test_reliability.py",
    "test_cluster_hosts.py",
    "test_contention.py",
    "test_tune.py",
    "test_budget.py",
    "test_walking_skeleton.py",
    "test_report_formats.py",
    "test_user_code.py",
    "test_graphs.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
