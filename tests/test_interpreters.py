"""The interpreter axis: case processes under other Pythons, each in an env the harness makes.

The interpreters are the machine's own (pyenv's 3.12 here, beside the harness's); a test that
needs one the machine lacks is skipped with a one-line reason, never passed silently.
Environments live in the user's cache (`~/.cache/harness/envs`, or `$HARNESS_ENV_CACHE`) and
are checked by key before use, so only a session on a fresh machine pays for making them
(about 25 s per interpreter here: a venv and pip install of psutil, pydantic and numpy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness import results, spec
from harness.analysis import claims, compare, summaries
from harness.execute import interpreters
from harness.output.reports.data import ReportData
from tests.conftest import cli, harness, marked


def _python(version: str) -> str:
    path = interpreters.find_version(version)
    if path is None:
        pytest.skip(f"no Python {version} on this machine (looked in pyenv, uv and PATH)")
    return path


def _label(path: str) -> str:
    return interpreters.label_of(interpreters.probe(path))


# --- bad input: one line, exit 2, nothing written -------------------------------------------


def test_a_spec_names_versions_never_a_program(tmp_path):
    data = {
        "name": "x",
        "description": "d",
        "workload": "sum_of_squares",
        "tasks": 2,
        "params": {"n": 10},
    }
    assert spec.validate({**data, "python": ["3.12", "3.13t"]}, "x.toml").python == [
        "3.12",
        "3.13t",
    ]
    with pytest.raises(spec.SpecError, match=r"x\.toml: python: '/tmp/evil' is not a version"):
        spec.validate({**data, "python": ["/tmp/evil"]}, "x.toml")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("/no/such/python", "is neither an interpreter file nor a version"),
        ("/bin/true", "/bin/true: not a Python 3 interpreter"),
        ("3.99", "no Python 3.99 found"),
    ],
)
def test_bad_python_is_one_line_and_nothing_is_written(tmp_path, value, says):
    proc = cli("run", "cpu", "--quick", "--python", value, "--out", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("harness: error: --python: ")
    assert says in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_an_interpreter_older_than_the_harness_is_refused(tmp_path):
    old = _python("3.9")
    proc = cli("run", "cpu", "--python", old, "--out", str(tmp_path / "r"))
    assert proc.returncode == 2, proc.stderr
    assert "is too old (the harness needs 3.10 or newer)" in proc.stderr


def test_the_case_id_names_the_python_only_when_a_run_has_several():
    loaded = spec.load("cpu")
    one = spec.expand(
        loaded, quick=True, backends_filter=["sequential", "threads"], pythons=["3.12.1"]
    )
    assert all("@" not in c.case_id and c.python == "3.12.1" for c in one)
    two = spec.expand(
        loaded, quick=True, backends_filter=["sequential", "threads"], pythons=["3.12.1", "3.13.0"]
    )
    ids = [c.case_id for c in two]
    assert len(ids) == 2 * len(one) == len(set(ids))
    assert "cpu/threads@3.13.0/w2/n=200000" in ids


# --- a real run under two interpreters --------------------------------------------------------


@pytest.fixture(scope="module")
def two_pythons() -> tuple[str, str]:
    """pyenv's 3.12 and the harness's own Python: a user's "mine against 3.12", and one
    environment to make on a fresh machine, not two (test time)."""
    return _python("3.12"), sys.executable


@pytest.fixture(scope="module")
def two_run(tmp_path_factory, two_pythons) -> Path:
    """cpu --quick under 3.12 and ours (sequential, threads and processes at 2 workers)."""
    out = tmp_path_factory.mktemp("interp")
    proc = harness(
        "run",
        "cpu",
        "--quick",
        "--python",
        ",".join(two_pythons),
        "--backends",
        "sequential,threads,processes",
        "--workers",
        "2",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def test_every_case_ran_under_its_interpreter(two_run, two_pythons):
    labels = {_label(p) for p in two_pythons}
    df = results.load(two_run)
    # the case process refuses to run under another Python than its rows name: ok is proof
    status = summaries.case_status(df)
    assert set(status["status"]) == {"ok"}, status[["case_id", "status", "error"]]
    assert set(df["python"]) == labels
    per_python = df.groupby("python")["case_id"].nunique()
    assert (per_python == 3).all()  # sequential, threads w2, processes w2 under each
    assert not marked(), "a case left processes behind"


def test_run_json_records_each_interpreter(two_run, two_pythons):
    info = json.loads((two_run / "run.json").read_text())
    recorded = {i["label"]: i for i in info["interpreters"]}
    assert set(recorded) == {_label(p) for p in two_pythons}
    for path in two_pythons:
        entry = recorded[_label(path)]
        assert entry["path"] == path
        assert entry["version"] == entry["label"].rstrip("t")
        assert isinstance(entry["free_threaded"], bool)
        assert isinstance(entry["gil_enabled"], bool)
        assert entry["gil_enabled"] or entry["free_threaded"]  # only a t build may lose it
        if path == sys.executable:  # the harness's own: cases run in its environment
            # the same file, not the same string: a `harness` script pip wrote names
            # bin/python3 in its shebang, while pytest may run as bin/python. In the same
            # folder too, so a venv's interpreter is not taken for the base one it links to.
            ours, recorded = Path(sys.executable), Path(entry["executable"])
            assert entry["env"] == "" and os.path.samefile(recorded, ours)
            assert os.path.samefile(recorded.parent, ours.parent)
        else:
            env_python = Path(entry["executable"])
            assert env_python.is_relative_to(entry["env"]) and env_python.exists()
            assert Path(entry["env"]).stat().st_mode & 0o777 == 0o700
            assert entry["packages"]["psutil"] and entry["packages"]["pydantic"]


def test_speedup_is_over_the_sequential_case_of_the_same_interpreter(two_run):
    table = summaries.case_table(results.load(two_run))
    for python, group in table.groupby("python"):
        seq = group[group["backend"] == "sequential"]
        assert len(seq) == 1
        assert (group["sequential_wall_s"] == float(seq["median"].iloc[0])).all(), python


def test_compare_pairs_interpreters_only_when_asked(two_run, two_pythons):
    df = results.load(two_run)
    a, b = sorted(_label(p) for p in two_pythons)
    with pytest.raises(compare.CompareError, match="no case in common"):
        compare.compare(df[df["python"] == a], df[df["python"] == b])
    result = compare.compare(df[df["python"] == a], df[df["python"] == b], ignore=("python",))
    assert len(result.rows) == 3
    assert set(result.rows["python"]) == {f"{a} -> {b}"}


def test_reports_and_claims_set_interpreters_side_by_side(two_run, two_pythons, tmp_path):
    a, b = sorted(_label(p) for p in two_pythons)
    df = results.load(two_run)
    data = ReportData(df, [results.run_info(two_run)])
    assert data.machines == [f"Python {a}", f"Python {b}"]
    table = claims.claims_table(df)
    cpu = table[table["aspect"] == "CPU parallelism"]
    assert list(cpu["python"]) == [a, b]  # a verdict per interpreter, each named
    proc = cli("report", str(two_run), "--format", "png", "-o", str(tmp_path / "png"))
    assert proc.returncode == 0, proc.stderr
    assert list((tmp_path / "png").glob("*-claims*.png"))  # a long table may take two pages
    proc = cli("compare", str(two_run), str(two_run), "--ignore", "python")
    assert proc.returncode == 2 and "several python values" in proc.stderr


def test_an_engine_that_will_not_install_there_is_skipped(two_run, two_pythons, tmp_path):
    """pip cannot reach an index: Dask cannot be installed for 3.12, so its cases are
    skipped with pip's reason; the other backends run. (Two_run made the env.)"""
    path = two_pythons[0]
    entry = next(
        i
        for i in json.loads((two_run / "run.json").read_text())["interpreters"]
        if i["path"] == path
    )
    has_dask = subprocess.run([entry["executable"], "-c", "import distributed"]).returncode == 0
    if has_dask:
        pytest.skip(f"Dask is installed for Python {entry['label']} here: nothing to skip")
    offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path), "PIP_CONFIG_FILE": "/dev/null"}
    proc = harness(
        "run",
        "cpu",
        "--quick",
        "--python",
        path,
        "--backends",
        "sequential,dask",
        "--workers",
        "1",
        "--out",
        str(tmp_path / "r"),
        env=offline,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = (tmp_path / "r").iterdir()
    status = summaries.case_status(results.load(run_dir)).set_index("backend")
    assert status.loc["sequential", "status"] == "ok"
    assert status.loc["dask", "status"] == "skipped"
    why = str(status.loc["dask", "error"])
    assert why.startswith(f"dask distributed cannot be installed for Python {entry['label']}: ")
    assert "\n" not in why
    assert "skipped" in proc.stdout
    table = summaries.case_table(results.load(run_dir))
    assert pd.isna(table.set_index("backend").loc["dask", "median"])


def test_the_harness_own_python_is_recorded_by_the_path_the_user_gave():
    """A venv's `python` links to `python3`: whichever the user names is what is recorded,
    while the case processes still run the harness's own interpreter."""
    for name in ("python", "python3"):
        given = str(Path(sys.executable).with_name(name))
        (interp,) = interpreters.resolve([given])
        assert interp.path == given and interp.own and interp.executable == sys.executable
