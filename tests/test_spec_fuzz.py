"""Property: any TOML document, any field values: a valid spec or one SpecError, never a crash."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import spec

pytestmark = pytest.mark.fast  # pure logic: no engine, no case process

FIELDS = [
    "name",
    "description",
    "workload",
    "tasks",
    "params",
    "sweep",
    "backends",
    "workers",
    "repeat",
    "warmup",
    "timeout_s",
    "backend_options",
    "quick",
]
GOOD = {
    "name": "fuzz",
    "description": "d",
    "workload": "sleep",
    "tasks": 2,
    "params": {"seconds": 0.0},
}

keys = st.one_of(
    st.sampled_from(FIELDS + ["n", "seconds", "threads", "start_method"]),
    st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
)
scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["sleep", "sum_of_squares", "threads", "ray", "spawn", "fork", "cpu"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=10,
)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else "0.0"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def check(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.toml"
        path.write_text(text, encoding="utf-8")
        try:
            loaded = spec.load(path)
        except spec.SpecError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc)
            return
        assert spec.expand(loaded, quick=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, values, max_size=8))
def test_random_documents(doc):
    check("\n".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in doc.items()))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=5))
def test_good_spec_with_random_field_values(changes):
    doc = {**GOOD, **changes}
    check("\n".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in doc.items()))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text(text):
    check(text)
