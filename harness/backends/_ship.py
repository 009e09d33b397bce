"""Shipping the harness package to cluster workers that do not have it installed.

Workloads are module-level functions of `harness.workloads`, pickled by reference, so a
remote worker must be able to import `harness`. Ray gets the package directory as a
`runtime_env` py_module; Dask gets a zip of it through a worker plugin. The zip is built
deterministically (sorted names, fixed timestamps) and named by its content hash, so the
same code is the same file on every worker and changed code never hides behind a cache.

The zip is code every worker imports, so it is written only to a folder private to this
user (mode 700, owned by us, not a symlink), and an existing file is used only when its
bytes are the ones just built: a file planted under the same name is replaced, never used.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tempfile
import zipfile
from functools import cache
from pathlib import Path

import harness
from harness import private

#: Fixed timestamp for every zip entry: equal code gives equal bytes.
_EPOCH = (2020, 1, 1, 0, 0, 0)


def package_dir() -> Path:
    """The directory of the `harness` package the driver imported."""
    return Path(harness.__file__).resolve().parent


def source_files(root: Path) -> list[Path]:
    """The files of a package folder that are code and data, not bytecode caches."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    )


def package_zip() -> Path:
    """A zip of the package (importable from sys.path) in the private bundle folder, named
    by its hash; checked against the bytes built here on every call."""
    data = _package_bytes()
    digest = hashlib.sha256(data).hexdigest()[:12]
    return private_file(f"harness-{digest}.zip", data)


@cache
def _package_bytes() -> bytes:
    root = package_dir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in source_files(root):
            info = zipfile.ZipInfo(str(Path(root.name) / path.relative_to(root)), _EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return buffer.getvalue()


def bundle_dir() -> Path:
    """This user's folder for code bundles: `<cache>/harness/bundles`, mode 700, if it is
    safe to use (ours, a real folder, writable by us only); else a fresh private temp folder."""
    return private.cache_dir("bundles") or _fallback_dir()


@cache
def _fallback_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="harness-bundles-"))  # mkdtemp: mode 700, ours


def private_file(name: str, data: bytes) -> Path:
    """`name` (a file name, or a relative path such as `dir/__init__.py`) in the private
    bundle folder, holding exactly `data`.

    An existing file is used only if it is a regular file (not a symlink) with exactly
    these bytes; anything else there is replaced by a fresh copy written under a temporary
    name and moved into place (`os.replace`), so no reader ever sees a partial file.
    Sub-folders are made mode 700 and must be private, as the bundle folder is.
    """
    root = bundle_dir()
    target = root / name
    folder = target.parent
    for sub in reversed([folder, *folder.parents]):
        if sub == root or root not in sub.parents:
            continue
        sub.mkdir(mode=0o700, exist_ok=True)
        if not private.is_private(sub):
            raise PermissionError(f"{sub} is not private to this user: not using it")
    name = target.name
    try:
        st = target.lstat()
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and target.read_bytes() == data:
            return target
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# --- the user's own code (a spec's `module:function`), shipped beside the harness -------

_user_units: list[Path] = []


def add_user_code(unit: Path) -> None:
    """Ship `unit` (a module's file, or its top-level package folder) with every backend
    started in this process from now on."""
    if unit not in _user_units:
        _user_units.append(unit)


def user_code_zip() -> Path | None:
    """One zip of every user unit (for Dask's UploadFile: on sys.path, top names imported)."""
    if not _user_units:
        return None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for unit in _user_units:
            files = source_files(unit) if unit.is_dir() else [unit]
            for path in files:
                arc = Path(unit.name) / path.relative_to(unit) if unit.is_dir() else unit.name
                zf.writestr(zipfile.ZipInfo(str(arc), _EPOCH), path.read_bytes())
    data = buffer.getvalue()
    # the user's code is imported by every worker: the same private, verified folder as ours
    return private_file(f"harness-user-{hashlib.sha256(data).hexdigest()[:12]}.zip", data)


def user_code_dirs() -> list[str]:
    """The user units as Ray `py_modules` (package folders). A single-file module `m.py`
    becomes a folder `m/__init__.py` holding the same code, so `import m` works alike."""
    dirs = []
    for unit in _user_units:
        if unit.is_dir():
            dirs.append(str(unit))
            continue
        data = unit.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:12]
        init = private_file(f"harness-user-{digest}/{unit.stem}/__init__.py", data)
        dirs.append(str(init.parent))
    return dirs
