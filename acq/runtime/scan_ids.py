"""Scan ids that count up per station, across every process that runs its plans.

Bluesky users find runs by ``scan_id``. A RunEngine counts from ``RE.md["scan_id"]``, which
starts again at 1 in every process, so ``acq run``, ``acq ipython`` and the queue server's
worker would hand out the same ids for different runs. `StationScanIds` is the RunEngine's
``scan_id_source`` instead: the last id handed out is kept in one file under the station's
data directory, read and advanced under an exclusive lock, so processes that run at the same
time still get distinct ids.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: File under the station's data directory holding the last scan id handed out.
SCAN_ID_FILE = "scan_id"


class StationScanIds:
    """A RunEngine ``scan_id_source`` backed by a locked counter file.

    Parameters
    ----------
    path
        The counter file (created on first use).

    Notes
    -----
    The next id is one more than the larger of the file's and ``RE.md["scan_id"]``, so a
    user who sets ``RE.md["scan_id"] = 1000`` continues from 1001 in every process.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __call__(self, md: Mapping[str, Any]) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        with os.fdopen(descriptor, "r+") as counter:
            fcntl.flock(counter, fcntl.LOCK_EX)  # released when the file closes
            text = counter.read().strip()
            last = int(text) if text.isdigit() else 0
            scan_id = max(last, int(md.get("scan_id") or 0)) + 1
            counter.seek(0)
            counter.truncate()
            counter.write(f"{scan_id}\n")
            counter.flush()
            os.fsync(counter.fileno())
        return scan_id
