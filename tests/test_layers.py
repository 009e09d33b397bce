"""The house's floors: no import circle, and (almost) nothing imports upward.

Reads every module's imports (at module level and inside functions, as `ast` sees them)
and holds the two rules of ARCHITECTURE.md: the package has no import circle, and at most
MAX_UPWARD imports run from a lower floor to a higher one. A new module must be given a
floor here, so the map in ARCHITECTURE.md cannot fall behind the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent / "harness"

#: Floors, from the ground up. A module's floor is that of the longest prefix listed.
FLOORS = {
    # the ground floor: contracts and plain helpers that import nothing of the harness
    "harness": 0,
    "harness.protocol": 0,
    "harness.metrics": 0,
    "harness.errors": 0,
    "harness.private": 0,
    "harness.user_code": 0,
    "harness.tasks": 0,
    "harness.case": 0,
    "harness.http_server": 0,
    "harness.units": 0,
    # measuring and storing
    "harness.measure": 1,
    "harness.results": 1,
    # what runs: engines and workloads, each knowing nothing of specs or reports
    "harness.backends": 2,
    "harness.workloads": 2,
    # what to run
    "harness.spec": 3,
    "harness.fingerprint": 3,
    # running it, and reading what ran (neither imports the other)
    "harness.execute": 4,
    "harness.analysis": 4,
    # showing it
    "harness.output": 5,
    "harness.output.reports": 5,
    "harness.output.export": 5,
    # entry points
    "harness.api": 6,
    "harness.cli": 6,
}
#: The bound ARCHITECTURE.md promises is 8; the house has 1 (the package face's lazy `run`),
#: so the test holds that: a new upward import must say why here.
MAX_UPWARD = 1


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor(module: str) -> int:
    best = max((p for p in FLOORS if module == p or module.startswith(p + ".")), key=len)
    return FLOORS[best]


def imports() -> dict[str, set[str]]:
    """module -> the harness modules it imports (a `from pkg import mod` names the module)."""
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("harness")}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if not node.module.startswith("harness"):
                    continue
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in modules else node.module)
        # `harness` itself is every module's parent, imported first, and hands out only
        # `__version__` (and `run`, lazily): not an edge of the map
        graph[name] = {m for m in found if m in modules and m not in (name, "harness")}
    return graph


def test_every_module_has_a_floor():
    for module in imports():
        assert any(module == p or module.startswith(p + ".") for p in FLOORS), module


def test_no_import_circle():
    graph = imports()
    # a package's __init__ is imported with any of its modules: an edge into `pkg.mod` is
    # also one into `pkg`, which is how circles through a package's face come about (not
    # `harness` itself, whose face imports `api` only when `harness.run` is asked for)
    for name in list(graph):
        for target in list(graph[name]):
            parent = target.rpartition(".")[0]
            if (
                parent in graph
                and parent not in ("harness", name)
                and not name.startswith(parent + ".")
            ):
                graph[name].add(parent)
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circle = path[path.index(nxt) :] + [nxt]
                pytest.fail("import circle: " + " -> ".join(circle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_at_most_a_few_imports_run_upward():
    upward = sorted(
        f"{a} (floor {floor(a)}) -> {b} (floor {floor(b)})"
        for a, targets in imports().items()
        for b in targets
        if floor(b) > floor(a)
    )
    assert len(upward) <= MAX_UPWARD, "\n".join(upward)


def test_no_function_is_over_80_lines():
    """A function longer than a screen does several jobs: split it by phase or by part."""
    long = [
        f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name} ({length} lines)"
        for path in ROOT.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := node.end_lineno - node.lineno + 1) > 80
    ]
    assert not long, long


def test_every_metric_name_is_a_constant_of_the_catalogue():
    """`Metric.X` and the catalogue name the same metrics, and the library spells no metric
    name as a string outside the catalogue (tests may, and so do the programs that run on
    workers and nodes with the standard library only, whose JSON keys are their own)."""
    import io
    import tokenize

    from harness.protocol import METRICS, Metric

    constants = {v for k, v in vars(Metric).items() if k.isupper()}
    assert constants <= set(METRICS) and {m for m in METRICS if m in constants} == constants
    # Every built-in metric has its constant; "processes", "speedup" and "efficiency" are
    # also a backend's name and the case table's columns, so their strings stay.
    words = constants - {"processes", "speedup", "efficiency"}
    spelled = []
    for path in ROOT.rglob("*.py"):
        if path.name in ("metrics.py", "tasks.py", "node_sampler.py", "http_server.py"):
            continue
        for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if token.type == tokenize.STRING and token.string.strip("'\"") in words:
                spelled.append(f"{path.relative_to(ROOT.parent)}:{token.start[0]} {token.string}")
    assert not spelled, spelled
