"""Other Pythons for the case processes: find them, probe them, give each an environment.

A run may name interpreters (`--python PATH,...` or versions; a spec only versions), and
every case of a local backend then runs once under each: the case process is started with
that interpreter, so its threads and pools are that Python's. An interpreter other than the
one running the harness gets a virtual environment of its own, made once and cached under
`~/.cache/harness/envs/<version>-<hash>` (`$HARNESS_ENV_CACHE` moves it), mode 700 like the
code bundles, holding what a case process imports (`CASE_REQUIREMENTS`) and a copy of the
harness package itself (re-copied whenever the harness's code changes). An engine (Dask,
Ray) is installed there only when a run asks for its backend; when pip cannot install it,
that backend's cases are `skipped` with pip's reason (and the next run tries again).

Why a copy and not the checkout on a `.pth`: the driver's harness may be an installed
wheel or a checkout; a copy of exactly the code the driver runs works for both, and its
hash says when it is stale. The dist-info written beside it carries the harness's entry
points, so backends are found there as they are here.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import private
from harness.backends import _ship
from harness.case import PYTHON_VERSION as VERSION
from harness.errors import InputError

#: What a case process imports besides the harness and the standard library.
CASE_REQUIREMENTS = (
    "psutil>=5.9",
    "pydantic>=2.6",
    "numpy>=1.26",
    "tomli>=2; python_version < '3.11'",
)
ENV_VAR = "HARNESS_ENV_CACHE"
MIN_VERSION = (3, 10)
DIST = "concurrency-harness"
#: Seconds for one interpreter to say what it is.
PROBE_TIMEOUT_S = 30
#: Seconds for pip to install one set of packages.
PIP_TIMEOUT_S = 900

_PROBE = """
import json, platform, sys, sysconfig
print(json.dumps({
    "executable": sys.executable,
    "version": platform.python_version(),
    "version_info": list(sys.version_info[:3]),
    "implementation": platform.python_implementation(),
    "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "gil_enabled": getattr(sys, "_is_gil_enabled", lambda: True)(),
    "prefix": sys.prefix,
}))
"""


class InterpreterError(InputError):
    """An interpreter that cannot be used: names the flag or field and the path."""


@dataclass
class Interpreter:
    """One Python the case processes run under, as run.json records it."""

    label: str  # "3.12.1", "3.13.0t": the `python` column of every row
    path: str  # as the user named it (or resolved from a version)
    base: str  # that interpreter's own executable
    version: str
    implementation: str
    free_threaded: bool  # built with Py_GIL_DISABLED
    #: sys._is_gil_enabled() in the case environment after the case-side imports (an
    #: extension module without free-threading support turns the GIL back on); None until
    #: prepared.
    gil_enabled: bool | None = None
    #: The Python that case processes are started with: `base`'s own venv, or this one.
    executable: str = ""
    env: str = ""  # the cached environment, "" for the harness's own interpreter
    packages: dict[str, str | None] = field(default_factory=dict)
    #: backend -> why it cannot run under this interpreter (its engine would not install).
    unavailable: dict[str, str] = field(default_factory=dict)
    #: The interpreter (and environment) running the harness: nothing to prepare.
    own: bool = False

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def label_of(facts: dict[str, Any]) -> str:
    """'3.12.1', '3.13.0t' (free-threaded build), or 'PyPy 3.10.14' for another kind."""
    text = f"{facts['version']}{'t' if facts['free_threaded'] else ''}"
    return text if facts["implementation"] == "CPython" else f"{facts['implementation']} {text}"


def current() -> Interpreter:
    """The interpreter running the harness, which case processes use by default."""
    facts: dict[str, Any] = {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    }
    return Interpreter(
        label=label_of(facts),
        path=sys.executable,
        base=sys.executable,
        executable=sys.executable,
        gil_enabled=getattr(sys, "_is_gil_enabled", lambda: True)(),
        own=True,
        **facts,
    )


def probe(path: str, where: str = "--python") -> dict[str, Any]:
    """Ask an interpreter what it is; anything that is not a usable Python is bad input."""
    try:
        out = subprocess.run(
            [path, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InterpreterError(f"{where}: {path}: cannot run it: {exc}") from None
    try:
        facts = json.loads(out.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise InterpreterError(f"{where}: {path}: not a Python 3 interpreter ({last})") from None
    if tuple(facts["version_info"][:2]) < MIN_VERSION:
        raise InterpreterError(
            f"{where}: {path}: Python {facts['version']} is too old (the harness needs "
            f"{'.'.join(map(str, MIN_VERSION))} or newer)"
        )
    return facts


def find_version(version: str) -> str | None:
    """An installed interpreter of `version` ("3.12", "3.13t"): pyenv's and uv's installs
    first (real executables), then `python3.12` on PATH; the newest patch release wins."""
    threaded = version.endswith("t")
    number = version.rstrip("t")
    minor = ".".join(number.split(".")[:2])
    name = f"python{minor}{'t' if threaded else ''}"
    candidates: list[Path] = []
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    uv = Path(
        os.environ.get("UV_PYTHON_INSTALL_DIR")
        or Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local/share") / "uv/python"
    )
    for root in (pyenv, uv):
        if root.is_dir():
            candidates += sorted(root.glob(f"*/bin/{name}"), key=_version_key, reverse=True)
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        folder = candidate.parent.parent.name  # "3.12.1", "cpython-3.13.1+freethreaded-..."
        if number.count(".") == 2 and number not in folder:
            continue  # a patch release was asked for: only that one
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _version_key(path: Path) -> tuple[int, ...]:
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", path.parent.parent.name)
    return tuple(int(n) for n in found.groups()) if found else (0,)


def resolve(names: list[str], where: str = "--python") -> list[Interpreter]:
    """The interpreters named by paths or versions, probed, in the order given.

    Nothing is installed here: this only checks that each is a usable Python and that no
    two are the same version (their rows would be indistinguishable).
    """
    found: list[Interpreter] = []
    here = current()
    for name in names:
        if VERSION.match(name):
            path = find_version(name)
            if path is None:
                raise InterpreterError(
                    f"{where}: no Python {name} found (looked in pyenv's and uv's installs "
                    f"and on PATH; install one, e.g. `uv python install {name}`)"
                )
        else:
            path = name
        facts = probe(path, where)
        if Path(facts["prefix"]).resolve() == Path(sys.prefix).resolve():
            # the harness's own environment: nothing to prepare; recorded by the path the
            # user gave (a venv's `python` is often a link to `python3`, sys.executable)
            found.append(replace(here, path=name))
            continue
        found.append(
            Interpreter(
                label=label_of(facts),
                path=name,
                base=facts["executable"],
                version=facts["version"],
                implementation=facts["implementation"],
                free_threaded=facts["free_threaded"],
            )
        )
    labels = [i.label for i in found]
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        raise InterpreterError(
            f"{where}: Python {', '.join(twice)} named twice; give each version once"
        )
    return found


# --- the cached environment ---------------------------------------------------------------


def cache_root() -> Path:
    """`$HARNESS_ENV_CACHE`, else `<user cache>/harness/envs`; made mode 700, and refused
    when another user could write to it: its environments run every case."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        root, where = private.made_private(Path(configured)), f"${ENV_VAR} ({configured})"
    else:
        harness_cache = private.cache_dir()
        root = private.made_private(harness_cache / "envs") if harness_cache else None
        where = str(private.user_cache() / "harness" / "envs")
    if root is None:
        raise InterpreterError(
            f"{where}: not a folder only this user can write to, so environments kept there "
            f"cannot be trusted; set ${ENV_VAR} to one that is"
        )
    return root


def env_key(interp: Interpreter) -> str:
    """What defines an environment: the interpreter and the case-side requirements."""
    text = json.dumps([os.path.realpath(interp.base), interp.label, CASE_REQUIREMENTS])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def code_hash() -> str:
    """Hash of the harness package the driver runs: its copy in an env must equal it."""
    root = _ship.package_dir()
    digest = hashlib.sha256()
    for path in _ship.source_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


Say = Callable[[str], None]


def prepare(interp: Interpreter, engines: dict[str, tuple[str, ...]], say: Say) -> Interpreter:
    """Make (once) or check the environment of `interp`, with the engines the run's backends
    need (backend -> pip packages); fills in executable, env, packages, gil_enabled and the
    backends that cannot run there. A failure to make the base environment is bad input."""
    if interp.own:
        return interp
    env = cache_root() / f"{interp.label.replace(' ', '-')}-{env_key(interp)}"
    lock = env.parent / f"{env.name}.lock"
    with open(lock, "a") as handle:  # two harness runs preparing one env: one at a time
        fcntl.flock(handle, fcntl.LOCK_EX)
        state = _ensure_base(interp, env, say)
        python = str(env / "bin" / "python")
        _ensure_code(env, python, state)
        failed = {b: _ensure_engine(interp, python, state, p, say) for b, p in engines.items()}
        _write_state(env, state)
    interp.executable = python
    interp.env = str(env)
    interp.unavailable = {b: why for b, why in failed.items() if why}
    interp.packages, interp.gil_enabled = _installed(python, interp.path)
    return interp


def _state_path(env: Path) -> Path:
    return env / "harness-env.json"


def _read_state(env: Path) -> dict[str, Any] | None:
    try:
        return json.loads(_state_path(env).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _write_state(env: Path, state: dict[str, Any]) -> None:
    tmp = _state_path(env).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, _state_path(env))


def _ensure_base(interp: Interpreter, env: Path, say: Say) -> dict[str, Any]:
    """The venv with the case-side requirements; remade when it is not the one expected
    (another key, a broken interpreter, a folder others could write to)."""
    state = _read_state(env)
    python = env / "bin" / "python"
    if (
        state is not None
        and state.get("key") == env_key(interp)
        and state.get("requirements") == list(CASE_REQUIREMENTS)
        and private.is_private(env)
        and python.exists()
    ):
        return state
    shutil.rmtree(env, ignore_errors=True)
    say(
        f"preparing a case environment for Python {interp.label} ({interp.base}) in {env}: "
        "once, it is cached"
    )
    _call([interp.base, "-m", "venv", str(env)], f"{interp.path}: venv", 300)
    env.chmod(0o700)
    _pip(str(python), list(CASE_REQUIREMENTS), f"{interp.path}: installing the case side")
    state = {"key": env_key(interp), "requirements": list(CASE_REQUIREMENTS), "installed": []}
    _write_state(env, state)
    return state


def _site_packages(python: str) -> Path:
    out = _call(
        [python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        "site-packages",
        PROBE_TIMEOUT_S,
    )
    return Path(out.strip().splitlines()[-1])


def _ensure_code(env: Path, python: str, state: dict[str, Any]) -> None:
    """A copy of the driver's harness package and its entry points, redone when it changed."""
    digest = code_hash()
    site = _site_packages(python)
    target = site / "harness"
    if state.get("code") == digest and target.is_dir():
        return
    shutil.rmtree(target, ignore_errors=True)
    source = _ship.package_dir()
    for path in _ship.source_files(source):
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    for old in site.glob("concurrency_harness-*.dist-info"):
        shutil.rmtree(old, ignore_errors=True)
    version = _dist_version()
    info = site / f"concurrency_harness-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(_entry_points(), encoding="utf-8")
    (info / "top_level.txt").write_text("harness\n", encoding="utf-8")
    state["code"] = digest


def _dist_version() -> str:
    from importlib import metadata  # not at import: every case process imports this module

    try:
        return metadata.version(DIST)
    except metadata.PackageNotFoundError:
        from harness import __version__

        return __version__


def _entry_points() -> str:
    """The harness distribution's entry points, so backends register in the env as here."""
    from importlib import metadata

    try:
        text = metadata.distribution(DIST).read_text("entry_points.txt")
    except metadata.PackageNotFoundError:
        text = None
    if text:
        return text
    from harness import backends

    lines = [f"{r.name} = {r.value}" for r in backends._scan().values() if r.builtin]
    return "[harness.backends]\n" + "\n".join(lines) + "\n"


def _ensure_engine(
    interp: Interpreter,
    python: str,
    state: dict[str, Any],
    packages: tuple[str, ...],
    say: Say,
) -> str:
    """pip install an engine's packages unless the env has them; "" or why it failed.

    Only success is remembered: a failure (no wheel for this Python yet, no network) is
    tried again by the next run, so a passing problem never sticks to the cache."""
    installed = state.setdefault("installed", [])
    missing = [p for p in packages if p not in installed]
    if not missing:
        return ""
    say(f"installing {' '.join(missing)} for Python {interp.label}")
    try:
        _pip(python, missing, "pip")
    except InterpreterError as exc:
        reason = str(exc).removeprefix("pip: ")
        return f"{' '.join(missing)} cannot be installed for Python {interp.label}: {reason}"
    installed += missing
    return ""


def _pip(python: str, requirements: list[str], what: str) -> None:
    _call(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
        what,
        PIP_TIMEOUT_S,
    )


def _call(command: list[str], what: str, timeout: float) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InterpreterError(f"{what}: {exc}") from None
    if out.returncode != 0:
        lines = [x for x in out.stderr.strip().splitlines() if x.strip()]
        errors = [x for x in lines if x.startswith("ERROR")] or lines or ["no output"]
        raise InterpreterError(f"{what}: {errors[-1].strip()}")
    return out.stdout


_FACTS = """
import json, sys
import harness.execute.case_process  # what every case imports before it measures
from harness.measure.software import package_versions
versions = package_versions(tuple(sys.argv[1:]))
print(json.dumps({"packages": versions,
                  "gil_enabled": getattr(sys, "_is_gil_enabled", lambda: True)()}))
"""


def _installed(python: str, where: str) -> tuple[dict[str, str | None], bool]:
    """Package versions in the env, and whether the GIL is on once a case's imports are done."""
    from harness import backends

    # what a case imports there, and every engine a registered backend names (loky too)
    required = [re.split(r"[<>=;\[ ]", r, maxsplit=1)[0] for r in CASE_REQUIREMENTS]
    names = list(dict.fromkeys((*required, *backends.packages())))
    out = _call([python, "-I", "-c", _FACTS, *names], f"{where}: the case environment", 120)
    facts = json.loads(out.strip().splitlines()[-1])
    return facts["packages"], bool(facts["gil_enabled"])
