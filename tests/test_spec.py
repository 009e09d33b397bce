"""Spec validation: bad specs are one clear error naming the file and the field."""

from __future__ import annotations

import json

import pytest

from harness import backends, spec

pytestmark = pytest.mark.fast  # pure logic: no engine, no case process

GOOD = """
name = "t"
description = "a test spec"
workload = "sum_of_squares"
tasks = 4
workers = [2, 1, 2]
[params]
n = 100
"""


def write(tmp_path, text: str):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_good_spec_loads_and_expands(tmp_path):
    s = spec.load(write(tmp_path, GOOD))
    assert s.workers == [1, 2]
    cases = spec.expand(s)
    # of the built-ins: sequential once, five scalable backends (threads, processes, loky,
    # dask, ray) at two worker counts; an installed plugin's backend joins them as designed
    builtin = [c for c in cases if c.backend in backends.BUILTINS]
    assert len(builtin) == 1 + 5 * 2
    assert {c.backend for c in cases} - set(backends.BUILTINS) <= set(backends.DEFAULT)
    assert len({c.case_id for c in cases}) == len(cases)
    assert all(c.params == {"n": 100} for c in cases)


def test_every_shipped_scenario_is_valid():
    for name in spec.available():
        s = spec.load(name)
        assert spec.expand(s, quick=True), name


def test_sweep_makes_a_case_per_value(tmp_path):
    s = spec.load(write(tmp_path, GOOD + "[sweep]\nn = [10, 20, 30]\n"))
    cases = spec.expand(s, backends_filter=["threads"])
    assert sorted(c.params["n"] for c in cases) == [10, 10, 20, 20, 30, 30]


def test_quick_overrides_sizes(tmp_path):
    s = spec.load(write(tmp_path, GOOD + "[quick]\ntasks = 2\nparams = { n = 5 }\nrepeat = 1\n"))
    (case,) = spec.expand(s, quick=True, backends_filter=["sequential"])
    assert (case.tasks, case.params, case.repeat) == (2, {"n": 5}, 1)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("bogus = 1\n", "bogus: unknown field"),
        ('tasks = "many"\n', "tasks"),
        ("tasks = 0\n", "tasks"),
        ("workers = [0]\n", "workers: every workers value must be at least 1"),
        ("repeat = 0\n", "repeat"),
        ('backends = ["gpu"]\n', "backends: unknown backend 'gpu'"),
        ('workload = "os.system"\n', "workload: unknown workload 'os.system'"),
        ("[params]\nn = -1\n", "n"),
        ("[params]\nshell = 'rm'\n", "shell: unknown field"),
        ('[backend_options.processes]\nstart_method = "vfork"\n', "start_method"),
    ],
)
def test_bad_fields_are_named(tmp_path, change, expected):
    text = GOOD
    key = change.split("=")[0].strip()
    if not change.startswith("[") and key in text:
        text = "\n".join(line for line in text.splitlines() if not line.startswith(key + " "))
    if change.startswith("[params]"):
        text = text.replace("[params]\nn = 100\n", "")
        change = change if "shell" not in change else "[params]\nn = 1\nshell = 'rm'\n"
    path = write(tmp_path, change + text if not change.startswith("[") else text + change)
    with pytest.raises(spec.SpecError) as err:
        spec.load(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert "\n" not in message


def test_missing_field_is_named(tmp_path):
    path = write(tmp_path, GOOD.replace('workload = "sum_of_squares"\n', ""))
    with pytest.raises(spec.SpecError, match="workload: missing field"):
        spec.load(path)


def test_malformed_toml_names_the_file(tmp_path):
    path = write(tmp_path, "name = [unclosed\n")
    with pytest.raises(spec.SpecError, match="not valid TOML"):
        spec.load(path)


def test_unknown_scenario_lists_the_known_ones():
    with pytest.raises(spec.SpecError, match="unknown scenario 'nope' .*cpu"):
        spec.load("nope")


def test_schema_accepts_every_shipped_scenario_and_rejects_a_broken_one():
    import jsonschema

    from tests.conftest import harness as cli

    proc = cli("schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    validator = jsonschema.Draft202012Validator(schema)
    for name in spec.available():
        data = spec.tomllib.loads(spec.resolve(name).read_text())
        assert not list(validator.iter_errors(data)), name
    broken = {**spec.tomllib.loads(spec.resolve("cpu").read_text()), "repeat": 0, "colour": "red"}
    broken["backends"] = ["threads", "nope"]
    messages = {e.message for e in validator.iter_errors(broken)}
    assert len(messages) == 3, messages


def test_all_backends_means_every_one_that_can_run_the_workload():
    """`backends = "all"`: asyncio joins where the workload has a coroutine, never where it
    has none; executor (whose engine a spec must name) is never implied."""
    base = {"name": "x", "description": "d", "tasks": 2, "backends": "all"}
    io = spec.validate({**base, "workload": "sleep", "params": {"seconds": 0.01}}, "spec", [])
    cpu = spec.validate({**base, "workload": "sum_of_squares", "params": {"n": 10}}, "spec", [])
    assert "asyncio" in io.backends and "asyncio" not in cpu.backends
    assert set(cpu.backends) == set(io.backends) - {"asyncio"}
    assert "executor" not in io.backends and io.backends[0] == "sequential"
