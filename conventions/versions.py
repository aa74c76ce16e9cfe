"""The software versions a document records, so a result can be reproduced."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable


def package_versions(distributions: Iterable[str]) -> dict[str, str]:
    """Installed version of each distribution (``"not installed"`` where it is absent)."""
    versions = {}
    for name in distributions:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
