"""The code bundle shipped to cluster workers: private folder, verified before every use."""

from __future__ import annotations

import hashlib
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

    def shipped(name: str) -> tuple[str, bool]:
        """The digest of the bundle the worker put on its sys.path, and whether the `harness`
        it imported is the planted code. (Which copy `import harness` picks depends on the
        finders of the worker's environment, e.g. an editable install; the bytes on its path
        do not.)"""
        import hashlib
        import sys
        from pathlib import Path

        import harness

        (entry,) = [p for p in sys.path if Path(p).name == name]
        return hashlib.sha256(Path(entry).read_bytes()).hexdigest(), hasattr(harness, "PLANTED")

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        client.register_plugin(UploadFile(str(path), load=True), name="harness-code")
        ((digest, planted),) = client.run(shipped, path.name).values()
    assert not marker.exists(), "the planted code ran"
    assert not planted
    genuine_digest = hashlib.sha256(_ship._package_bytes()).hexdigest()
    assert digest == genuine_digest, "the worker put other bytes on its path"


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


def test_user_code_lives_in_the_private_folder_and_is_verified(cache, tmp_path, monkeypatch):
    """The user's module is imported by every worker too: same folder, same verification."""
    module = tmp_path / "mods" / "usermod.py"
    module.parent.mkdir()
    module.write_text("VALUE = 1\n")
    monkeypatch.setattr(_ship, "_user_units", [module])
    zipped = _ship.user_code_zip()
    (ray_dir,) = map(Path, _ship.user_code_dirs())
    init = ray_dir / "__init__.py"
    for path in (zipped, init):
        assert cache in path.parents, path
        for folder in (path.parent, *path.parents):
            if folder == cache:
                break
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    init.write_text("VALUE = 'planted'\n")
    with zipfile.ZipFile(zipped, "a") as zf:
        zf.writestr("evil.py", "x = 1\n")
    assert _ship.user_code_zip() == zipped
    assert zipfile.ZipFile(zipped).namelist() == ["usermod.py"], "planted zip was reused"
    (again,) = map(Path, _ship.user_code_dirs())
    assert (again / "__init__.py").read_text() == "VALUE = 1\n", "planted module was reused"


@pytest.mark.parametrize("how", ["others can write", "a symlink"])
def test_a_cache_folder_others_could_write_is_used_for_nothing(tmp_path, monkeypatch, how):
    """Bundles, interpreter environments and the cluster state share one rule: a folder
    another user could put files in is never used (bundles go to a fresh private folder,
    the others are refused with a line naming the folder and the way out)."""
    from harness import private
    from harness.backends import launch as cluster
    from harness.execute import interpreters

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(interpreters.ENV_VAR, raising=False)
    monkeypatch.delenv(cluster.STATE_ENV, raising=False)
    _ship._fallback_dir.cache_clear()
    folder = tmp_path / "cache" / "harness"
    if how == "a symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        folder.parent.mkdir()
        folder.symlink_to(tmp_path / "elsewhere")
    else:
        folder.mkdir(parents=True)
        folder.chmod(0o777)
    assert private.cache_dir("bundles") is None

    bundles = _ship.bundle_dir()
    assert folder not in bundles.parents and private.is_private(bundles)
    with pytest.raises(interpreters.InterpreterError, match=f"{folder}/envs: not a folder"):
        interpreters.cache_root()
    with pytest.raises(cluster.ClusterError, match=f"{folder}: not a folder .* --state"):
        cluster.state_path()
    if how == "a symlink":
        assert not list((tmp_path / "elsewhere").iterdir()), "something was written through it"

    # a folder of the user's choosing that is private is taken
    monkeypatch.setenv(interpreters.ENV_VAR, str(tmp_path / "envs"))
    assert interpreters.cache_root() == tmp_path / "envs"
    assert stat.S_IMODE((tmp_path / "envs").stat().st_mode) == 0o700
