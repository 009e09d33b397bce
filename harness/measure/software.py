"""Installed versions of packages: what the driver and each cluster node record.

A module of its own on the measuring floor: the node-side facts (`measure.nodes`, run on
workers) and the run's fingerprint both need it, and neither should import the other.
"""

from __future__ import annotations

from importlib import metadata


def package_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed version of each package, None where it is missing."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
