"""The code bundle shipped to cluster workers: private folder, verified before every use."""

from __future__ import annotations

import logging
import os
import stat
import zipfile
from pathlib import Path

import pytest

from harness.backends import _ship


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _ship._fallback_dir.cache_clear()
    return tmp_path / "cache" / "harness" / "bundles"


def _plant(path: Path, marker: Path) -> None:
    """A zip with the genuine name whose `harness` leaves a marker file when imported."""
    path.unlink()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            "harness/__init__.py",
            f"open({str(marker)!r}, 'w').write('planted')\nPLANTED = True\n",
        )


def test_bundle_folder_is_private_and_bundle_is_the_built_code(cache):
    path = _ship.package_zip()
    assert path.parent == cache
    mode = stat.S_IMODE(cache.stat().st_mode)
    assert mode == 0o700, oct(mode)
    assert path.read_bytes() == _ship._package_bytes()
    assert not list(cache.glob("*.tmp")), "a temporary file was left behind"


def test_a_planted_bundle_is_rebuilt_and_never_imported(cache, tmp_path):
    from distributed import Client, LocalCluster
    from distributed.diagnostics.plugin import UploadFile

    genuine = _ship.package_zip()
    marker = tmp_path / "planted-was-imported"
    _plant(genuine, marker)
    assert genuine.read_bytes() != _ship._package_bytes()

    path = _ship.package_zip()
    assert path == genuine, "the bundle keeps its name"
    assert path.read_bytes() == _ship._package_bytes(), "the planted file was not rebuilt"

    def where() -> tuple[str, bool]:
        import harness

        return harness.__file__, hasattr(harness, "PLANTED")

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):  # fmt: skip
        client.register_plugin(UploadFile(str(path), load=True), name="harness-code")
        ((origin, planted),) = client.run(where).values()
    assert not marker.exists(), "the planted code ran"
    assert not planted
    assert path.name in origin, f"the worker did not import the shipped bundle: {origin}"


@pytest.mark.parametrize("how", ["group-writable", "symlink"])
def test_an_unsafe_bundle_folder_is_not_used(cache, tmp_path, how):
    cache.parent.mkdir(parents=True)
    if how == "symlink":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        cache.symlink_to(elsewhere)
    else:
        cache.mkdir()
        cache.chmod(0o777)
    path = _ship.package_zip()
    assert path.parent not in (cache, tmp_path / "elsewhere")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.parent.stat().st_uid == os.getuid()
    assert path.read_bytes() == _ship._package_bytes()
