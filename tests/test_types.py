"""The type checker's ground floor stays strict, also as its modules are split.

`make lint` runs mypy with the settings in pyproject.toml: strict on the ground floor, a
baseline elsewhere. These tests hold the settings themselves: the modules ARCHITECTURE.md
names stay in the strict list with every flag of `--strict`, and a module they import from
the package (say, one that `measure/stats.py` re-exports after a split) is strict too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.test_layers import imports

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.fast

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
GROUND = {
    "harness.protocol",
    "harness.metrics",
    "harness.units",
    "harness.case",
    "harness.graph",
    "harness.measure.stats",
}
#: `--strict` minus its global flags (warn_redundant_casts, warn_unused_ignores and
#: strict_equality, set in [tool.mypy] itself).
STRICT_FLAGS = {
    "disallow_any_generics",
    "disallow_subclassing_any",
    "disallow_untyped_calls",
    "disallow_untyped_defs",
    "disallow_incomplete_defs",
    "check_untyped_defs",
    "disallow_untyped_decorators",
    "warn_return_any",
    "no_implicit_reexport",
    "extra_checks",
}


def _config() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["tool"]["mypy"]


def _strict_modules() -> set[str]:
    found: set[str] = set()
    for override in _config().get("overrides", []):
        if all(override.get(flag) is True for flag in STRICT_FLAGS):
            modules = override["module"]
            found |= {modules} if isinstance(modules, str) else set(modules)
    return found


def test_the_global_half_of_strict_is_on():
    config = _config()
    for flag in ("warn_redundant_casts", "warn_unused_ignores", "strict_equality"):
        assert config.get(flag) is True, flag


def test_the_ground_floor_is_strict():
    assert GROUND <= _strict_modules()


def test_what_a_strict_module_imports_from_the_package_is_strict():
    strict = _strict_modules()
    graph = imports()
    missing = sorted(
        f"{module} imports {target}"
        for module in strict
        for target in graph.get(module, set())
        if target not in strict and target.rsplit(".", 1)[0] + ".*" not in strict
    )
    assert not missing, "add to the strict list in pyproject.toml: " + "; ".join(missing)
