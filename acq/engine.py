"""The RunEngine of a station, with the metadata every run carries and Tiled streaming."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

from bluesky import RunEngine
from tiled.client.container import Container

from .config import StationConfig
from .streaming import BackgroundWriter, tiled_writer

#: Distributions whose versions go into every start document.
RECORDED_PACKAGES = ("ssb-beamline", "bluesky", "ophyd", "pyepics", "caproto", "event-model",
                     "tiled", "bluesky-tiled-plugins", "databroker", "numpy", "scipy",
                     "scikit-image", "h5py")


def software_versions() -> dict[str, str]:
    """Installed versions of the packages acquisition depends on."""
    versions = {}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


@dataclass
class Engine:
    """A RunEngine and the Tiled writer subscribed to it (None when not streaming)."""

    RE: RunEngine
    writer: BackgroundWriter | None

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until every document so far has reached Tiled (or its backup)."""
        if self.writer is not None and not self.writer.flush(timeout_s):
            raise TimeoutError(f"documents still queued for Tiled after {timeout_s} s")


def make_run_engine(config: StationConfig, client: Container | None = None) -> Engine:
    """A RunEngine for ``config``'s station.

    Every start document carries the station, sample, cell geometry and masses and the
    software versions (``RE.md``). With ``client`` (a Tiled client holding the ``raw``
    container) documents stream to ``raw`` off the acquisition thread, with a local backup
    under ``<data_dir>/backup``.
    """
    RE = RunEngine({})
    RE.md.update(config.metadata())
    RE.md["versions"] = software_versions()
    writer = None
    if client is not None:
        writer = tiled_writer(client["raw"], config.station.data_dir.resolve() / "backup")
        RE.subscribe(writer)
    return Engine(RE, writer)
