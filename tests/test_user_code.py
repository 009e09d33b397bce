"""Benchmarking your own code: `module:function` workloads, the --import gate, the API.

The user's module always lives in a temporary folder outside the harness's path, so each
backend must get it from the harness (sys.path of the case process, shipped to Dask and Ray
workers) and not from an installed copy.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from harness import api, spec, user_code
from harness.backends import _ship
from tests.conftest import harness

MODULE = '''
"""Parse generated key=value records: a realistic pure-Python task."""


def records(tasks, lines=200):
    return [(i, lines) for i in range(tasks)]


def parse(item):
    """Parse `lines` generated records; return how many fields they hold."""
    seed, lines = item
    text = "\\n".join(f"k{seed}_{j}=v{j};x={j * seed}" for j in range(lines))
    return sum(len(field.split("=")) for line in text.splitlines() for field in line.split(";"))


def fields_ok(item, output):
    return output == 4 * item[1]


def needs_missing(x):
    import harness_test_surely_missing_dependency  # noqa: F401 - the worker lacks it

    return x


def where(item):
    """The folder this module was imported from, as the worker sees it."""
    import os

    return os.path.dirname(os.path.abspath(__file__))


def not_driver_copy(item, output):
    """Run in the case process, which imports this module from the user's folder."""
    import os

    return output != os.path.dirname(os.path.abspath(__file__))


NOT_CALLABLE = 3
'''


@pytest.fixture(autouse=True)
def _fresh_import():
    """Each test writes its own `userwork`: never reuse another test's imported copy."""
    sys.modules.pop("userwork", None)
    yield
    sys.modules.pop("userwork", None)


def _module(folder: Path, name: str = "userwork") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(MODULE))
    return folder


def _toml(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


SPEC = """
name = "userwork"
description = "a user's parser"
workload = "userwork:parse"
inputs = "userwork:records"
{check}
tasks = 6
workers = [2]
repeat = 2
warmup = 1
rounds = 1
[params]
lines = 50
"""


# --- the gate and bad references: validation only, nothing runs -------------------------


def test_refused_without_import_exit_2_nothing_written(tmp_path: Path) -> None:
    _module(tmp_path)
    _toml(tmp_path / "s.toml", SPEC.format(check=""))
    out = tmp_path / "results"
    proc = harness("run", "s.toml", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--import userwork" in lines[0] and "workload" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_allowed_by_parent_package_only() -> None:
    assert user_code.allowed("pkg.sub", ["pkg"])
    assert not user_code.allowed("pkgx", ["pkg"])
    assert not user_code.allowed("os", [])


@pytest.mark.parametrize(
    ("workload", "message"),
    [
        ("no_such_module_xyz:f", "cannot import no_such_module_xyz"),
        ("userwork:nope", "module userwork has no 'nope'"),
        ("userwork:NOT_CALLABLE", "is a int, not a function"),
        ("userwork:", "is not a reference"),
    ],
)
def test_bad_references_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workload: str, message: str
) -> None:
    monkeypatch.syspath_prepend(str(_module(tmp_path)))
    data = {"name": "u", "description": "u", "workload": workload, "tasks": 2}
    with pytest.raises(spec.SpecError, match=message) as err:
        spec.validate(data, "u.toml", ["userwork", "no_such_module_xyz"])
    assert "\n" not in str(err.value) and str(err.value).startswith("u.toml: workload: ")


def test_inputs_and_check_are_for_own_workloads(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(_module(tmp_path)))
    data = {
        "name": "u",
        "description": "u",
        "workload": "square",
        "tasks": 2,
        "check": "userwork:fields_ok",
    }
    with pytest.raises(spec.SpecError, match="not the built-in 'square'"):
        spec.validate(data, "u.toml", ["userwork"])


def test_cli_import_flag_names_a_module(tmp_path: Path) -> None:
    proc = harness("run", "cpu", "--import", "not a module", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "--import: 'not a module' is not a module name" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_function_from_main_says_to_move_it() -> None:
    def local(x):
        return x

    local.__module__ = "__main__"
    local.__qualname__ = "local"
    with pytest.raises(spec.SpecError, match="defined in __main__.*put it in a module"):
        api.run({"name": "u", "description": "u", "workload": local, "tasks": 2})
    with pytest.raises(spec.SpecError, match="lambda or defined inside a function"):
        api.run({"name": "u", "description": "u", "workload": lambda x: x, "tasks": 2})


def test_ship_units_zip_and_ray_dirs(tmp_path: Path, monkeypatch) -> None:
    """A single-file module travels as itself in the Dask zip and as m/__init__.py for Ray."""
    import zipfile

    folder = _module(tmp_path / "mods")
    monkeypatch.syspath_prepend(str(folder))
    units = user_code.code_units(["userwork:parse", "os.path:join"])
    assert units == [str(folder / "userwork.py")]  # the standard library never travels
    monkeypatch.setattr(_ship, "_user_units", [Path(u) for u in units])
    with zipfile.ZipFile(_ship.user_code_zip()) as zf:
        assert zf.namelist() == ["userwork.py"]
    (ray_dir,) = _ship.user_code_dirs()
    assert Path(ray_dir).name == "userwork"
    assert (Path(ray_dir) / "__init__.py").read_text() == (folder / "userwork.py").read_text()


# --- real runs: every backend, the module outside the harness's path ---------------------


def test_own_workload_on_all_five_backends(tmp_path: Path) -> None:
    """Without check, outputs are compared with the task run in the case process."""
    _module(tmp_path)
    _toml(tmp_path / "s.toml", SPEC.format(check=""))
    out = tmp_path / "results"
    backends = "sequential,threads,processes,dask,ray"
    proc = harness(
        "run",
        "s.toml",
        "--import",
        "userwork",
        "--backends",
        backends,
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    frame = api.load(*out.iterdir())
    status = {backend: set(s) for backend, s in frame.groupby("backend")["status"]}
    assert status == {b: {"ok"} for b in backends.split(",")}, frame[["backend", "error"]]
    assert set(frame["param_lines"].dropna()) == {50}
    walls = frame[frame["metric"] == "wall_s"]
    assert (walls.groupby("backend")["value"].count() == 2).all()


def test_check_and_a_worker_missing_a_dependency(tmp_path: Path) -> None:
    """With `check` the case process never runs the task: a dependency only the worker
    lacks shows up as status `error` with the ImportError, on the engines that ship code."""
    _module(tmp_path)
    _toml(tmp_path / "ok.toml", SPEC.format(check='check = "userwork:fields_ok"'))
    _toml(
        tmp_path / "bad.toml",
        """
        name = "missing"
        description = "a dependency the workers do not have"
        workload = "userwork:needs_missing"
        check = "userwork:fields_ok"
        tasks = 2
        workers = [1]
        repeat = 1
        warmup = 0
        rounds = 1
    """,
    )
    out = tmp_path / "results"
    ok = harness(
        "run",
        "ok.toml",
        "--import",
        "userwork",
        "--backends",
        "processes",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = harness(
        "run",
        "bad.toml",
        "--import",
        "userwork",
        "--backends",
        "dask,ray",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    frame = api.load(*sorted(out.iterdir()))
    by = frame.drop_duplicates(["scenario", "backend"]).set_index(["scenario", "backend"])
    assert by.loc[("userwork", "processes"), "status"] == "ok"
    for backend in ("dask", "ray"):
        row = by.loc[("missing", backend)]
        assert row["status"] == "error", bad.stdout
        assert "No module named 'harness_test_surely_missing_dependency'" in row["error"]
        assert "ModuleNotFoundError" in row["error"]


def test_local_engines_import_the_shipped_copy_not_the_drivers_folder(tmp_path: Path) -> None:
    """Local Dask and Ray workers must not depend on sharing the driver's working directory
    or sys.path: the module they run is the copy the harness shipped to them."""
    _module(tmp_path)
    _toml(
        tmp_path / "where.toml",
        """
        name = "where"
        description = "which copy of the user's module the workers import"
        workload = "userwork:where"
        check = "userwork:not_driver_copy"
        tasks = 2
        workers = [1]
        repeat = 1
        warmup = 0
        rounds = 1
    """,
    )
    out = tmp_path / "results"
    proc = harness(
        "run",
        "where.toml",
        "--import",
        "userwork",
        "--backends",
        "dask,ray",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    frame = api.load(*out.iterdir())
    status = frame.drop_duplicates("backend").set_index("backend")[["status", "error"]]
    assert status["status"].to_dict() == {"dask": "ok", "ray": "ok"}, (status, proc.stdout)


def test_api_runs_a_function_object(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(_module(tmp_path / "mods")))
    monkeypatch.chdir(tmp_path)
    import userwork  # type: ignore[import-not-found]

    frame = api.run(
        {
            "name": "api-own",
            "description": "from a notebook",
            "workload": userwork.parse,
            "inputs": userwork.records,
            "tasks": 4,
            "workers": [2],
            "repeat": 2,
            "rounds": 1,
            "params": {"lines": 20},
        },
        backends=["sequential", "threads"],
    )
    assert isinstance(frame, pd.DataFrame)
    assert set(frame["backend"]) == {"sequential", "threads"}
    assert set(frame["status"]) == {"ok"}
    assert not (tmp_path / "results").exists()


def test_schema_accepts_the_example_and_a_reference(monkeypatch) -> None:
    import jsonschema
    import tomllib

    data = tomllib.loads((Path(__file__).parent.parent / "examples" / "logparse.toml").read_text())
    validator = jsonschema.Draft202012Validator(spec.json_schema())
    assert not list(validator.iter_errors(data))
    assert list(validator.iter_errors({**data, "workload": "no colon, no name"}))
    monkeypatch.chdir(Path(__file__).parent.parent / "examples")
    loaded = spec.validate(data, "logparse.toml", ["logparse"])
    assert loaded.code() == [str(Path.cwd() / "logparse.py")]


def test_an_installed_package_registers_a_workload_without_import(tmp_path, monkeypatch) -> None:
    """Entry points of `harness.workloads`: installed code is trusted, no --import needed."""
    from harness import workloads

    site = tmp_path / "site"
    _module(site)
    info = site / "userwork_dist-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: userwork-dist\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[harness.workloads]\nparse_records = userwork:parse\n")
    monkeypatch.syspath_prepend(str(site))
    assert "parse_records" in workloads.names()
    base = {"name": "u", "description": "u", "tasks": 3, "params": {"lines": 5}}
    by_name = spec.validate(
        {**base, "workload": "parse_records", "inputs": "userwork:records"}, "u.toml"
    )
    workload = by_name.workload_obj()
    inputs = workload.make_inputs(workload.params(lines=5), 3)
    assert [workload.task(i) for i in inputs] == [20, 20, 20]
    # the package's module may also be named by reference, still without --import
    assert spec.validate({**base, "workload": "userwork:parse"}, "u.toml").workload
