"""Shipping the harness package to cluster workers that do not have it installed.

Workloads are module-level functions of `harness.workloads`, pickled by reference, so a
remote worker must be able to import `harness`. Ray gets the package directory as a
`runtime_env` py_module; Dask gets a zip of it through a worker plugin. The zip is built
deterministically (sorted names, fixed timestamps) and named by its content hash, so the
same code is the same file on every worker and changed code never hides behind a cache.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from functools import cache
from pathlib import Path

import harness

#: Fixed timestamp for every zip entry: equal code gives equal bytes.
_EPOCH = (2020, 1, 1, 0, 0, 0)


def package_dir() -> Path:
    """The directory of the `harness` package the driver imported."""
    return Path(harness.__file__).resolve().parent


def _source_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    )


@cache
def package_zip() -> Path:
    """A zip of the package (importable from sys.path), in a temp folder, named by hash."""
    root = package_dir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in _source_files(root):
            info = zipfile.ZipInfo(str(Path(root.name) / path.relative_to(root)), _EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"harness-code-{digest}" / f"harness-{digest}.zip"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return target


# --- the user's own code (a spec's `module:function`), shipped beside the harness -------

_user_units: list[Path] = []


def add_user_code(unit: Path) -> None:
    """Ship `unit` (a module's file, or its top-level package folder) with every backend
    started in this process from now on."""
    if unit not in _user_units:
        _user_units.append(unit)


def _write_once(data: bytes, name: str, suffix: str) -> Path:
    digest = hashlib.sha256(data).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"{name}-{digest}" / f"{name}-{digest}{suffix}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return target


def user_code_zip() -> Path | None:
    """One zip of every user unit (for Dask's UploadFile: on sys.path, top names imported)."""
    if not _user_units:
        return None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for unit in _user_units:
            files = _source_files(unit) if unit.is_dir() else [unit]
            for path in files:
                arc = Path(unit.name) / path.relative_to(unit) if unit.is_dir() else unit.name
                zf.writestr(zipfile.ZipInfo(str(arc), _EPOCH), path.read_bytes())
    return _write_once(buffer.getvalue(), "harness-user", ".zip")


def user_code_dirs() -> list[str]:
    """The user units as Ray `py_modules` (package folders). A single-file module `m.py`
    becomes a folder `m/__init__.py` holding the same code, so `import m` works alike."""
    dirs = []
    for unit in _user_units:
        if unit.is_dir():
            dirs.append(str(unit))
            continue
        data = unit.read_bytes()
        init = _write_once(data, "harness-user", ".py")
        folder = init.parent / unit.stem
        folder.mkdir(exist_ok=True)
        if not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_bytes(data)
        dirs.append(str(folder))
    return dirs
