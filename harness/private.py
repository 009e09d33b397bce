"""Folders only this user can write to: where the harness keeps what workers or later runs
execute or trust (code bundles, interpreter environments, the state of a started cluster).

Another user who could put a file there could run code as this user, or point
`cluster down` at processes, so each folder is made mode 700 and used only after a check.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def user_cache() -> Path:
    """`$XDG_CACHE_HOME`, else `~/.cache`."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def is_private(folder: Path) -> bool:
    """Whether only this user can put files in `folder`: a real folder (no symlink) that we
    own, which neither group nor others can write to, inside a parent others cannot
    rename it out of (owned by us or root, or sticky)."""
    try:
        st = folder.lstat()
        parent = folder.parent.lstat()
    except OSError:
        return False
    ours = st.st_uid == os.getuid()
    parent_safe = parent.st_uid in (0, os.getuid()) and (
        not parent.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or parent.st_mode & stat.S_ISVTX
    )
    return (
        stat.S_ISDIR(st.st_mode)
        and ours
        and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        and bool(parent_safe)
    )


def made_private(folder: Path) -> Path | None:
    """`folder` (and missing parents) made mode 700; None when it is not safe to use."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not is_private(folder):
            return None
        folder.chmod(0o700)  # an older folder of ours may have been made 755
        return folder
    except OSError:
        return None


def cache_dir(name: str = "") -> Path | None:
    """`<user cache>/harness[/name]`, made mode 700; None when it is not safe to use."""
    root = made_private(user_cache() / "harness")
    if root is None or not name:
        return root
    return made_private(root / name)
