"""The user's own code: `module:function` references in a spec, and the trust they need.

A spec is data, so naming `workload = "mymod:parse"` in it must not be enough to run
`mymod`: a spec downloaded from anywhere would otherwise execute whatever module it names
(`os:system` is one `:` away). The harness imports a user's module only when

- the command line allows it, `harness run SPEC --import mymod` (or
  `harness.run(..., imports=["mymod"])`; passing a function object allows its module), or
- an installed package registers the workload through the entry-point group
  `harness.workloads` (installing a package is already trusting it).

`--import mypkg` allows `mypkg` and its submodules. Everything here runs in the driver and
in the case process; workers only ever import the user's module itself.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import sysconfig
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GROUP = "harness.workloads"
_REF = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*):([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)$")


@dataclass(frozen=True)
class Ref:
    """`module:qualname` of a module-level function."""

    module: str
    attr: str

    def __str__(self) -> str:
        return f"{self.module}:{self.attr}"


def is_reference(text: str) -> bool:
    return ":" in text


def parse(text: str) -> Ref:
    """A reference, or ValueError saying what a reference looks like."""
    match = _REF.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a reference: write module:function, e.g. mywork:parse")
    return Ref(match.group(1), match.group(2))


def entry_points() -> dict[str, str]:
    """Workloads installed packages register: name -> "module:function" (or a Workload)."""
    from importlib import metadata  # a scan of every distribution: only when asked

    return {ep.name: ep.value for ep in metadata.entry_points(group=GROUP)}


def allowed(module: str, imports: Iterable[str]) -> bool:
    """May the harness import `module`? Named by --import (or a parent package of it is), or
    the module of a workload an installed package registers."""
    trusted = set(imports) | {parse(v).module for v in entry_points().values() if ":" in v}
    return any(module == t or module.startswith(t + ".") for t in trusted)


def refusal(ref: Ref) -> str:
    top = ref.module.split(".")[0]
    return f"{str(ref)!r} is your own code, which a spec alone never imports: add --import {top}"


def resolve(text: str, imports: Iterable[str] | None = None, *, callable_only: bool = True) -> Any:
    """The function a reference names; ValueError (one line) when it is refused or bad.

    `imports=None` skips the gate: the case process runs what its driver already allowed.
    """
    ref = parse(text)
    if imports is not None:
        if not allowed(ref.module, imports):
            raise ValueError(refusal(ref))
        if os.getcwd() not in sys.path:  # like `python -m`: your modules beside you
            sys.path.append(os.getcwd())
    try:
        obj: Any = importlib.import_module(ref.module)
    except ImportError as exc:
        raise ValueError(f"{str(ref)!r}: cannot import {ref.module}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's module failed while importing
        raise ValueError(
            f"{str(ref)!r}: importing {ref.module} raised {type(exc).__name__}: {exc}"
        ) from None
    for part in ref.attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{str(ref)!r}: module {ref.module} has no {ref.attr!r}")
        obj = getattr(obj, part)
    if callable_only and not callable(obj):
        raise ValueError(f"{str(ref)!r} is a {type(obj).__name__}, not a function")
    return obj


def reference_of(func: Callable[..., Any]) -> str:
    """`module:qualname` of a function object that workers can import by that name.

    Functions defined in __main__ (a notebook, a script) or inside another function have no
    such name; the harness asks for them to be moved to a module rather than pickling them
    by value, so every backend runs the same code the same way.
    """
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", "")
    if not callable(func) or not module or not qualname:
        raise ValueError(f"{func!r} is not a function")
    if module == "__main__":
        raise ValueError(
            f"function {qualname!r} is defined in __main__ (a notebook or script): workers "
            "cannot import it; put it in a module (e.g. mywork.py) and pass mywork.{qualname}"
        )
    if "<" in qualname:
        raise ValueError(
            f"function {module}.{qualname} is a lambda or defined inside a function: workers "
            "cannot import it; define it at the top level of its module"
        )
    return f"{module}:{qualname}"


def code_unit(module: str) -> Path | None:
    """What must travel to workers for `module`: its top-level package folder or its single
    file. None for installed or standard-library code, which workers must have themselves."""
    top = importlib.import_module(module.split(".")[0])
    paths = list(getattr(top, "__path__", []))
    if paths:
        unit = Path(paths[0]).resolve()
    elif getattr(top, "__file__", None):
        unit = Path(top.__file__).resolve()  # type: ignore[arg-type]
    else:
        return None  # built into the interpreter
    installed = {
        Path(p).resolve()
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (p := sysconfig.get_paths().get(key))
    }
    installed |= {Path(p).resolve() for p in sys.path if "site-packages" in p}
    if any(unit.is_relative_to(root) for root in installed):
        return None
    return unit


def code_units(references: Iterable[str]) -> list[str]:
    """The folders/files to make importable for these references, each once."""
    units = [code_unit(parse(r).module) for r in references if r and is_reference(r)]
    return list(dict.fromkeys(str(u) for u in units if u is not None))


def make_importable(units: Iterable[str]) -> None:
    """In the case process: put each unit's parent folder on sys.path (process pools inherit
    it: spawn and forkserver send the parent's sys.path to their children)."""
    for unit in units:
        root = str(Path(unit).parent)
        if root not in sys.path:
            sys.path.insert(0, root)
