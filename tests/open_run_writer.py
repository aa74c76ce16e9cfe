"""A process whose journal of open runs (`acq.runtime.open_runs`) has opened a run, for the
tests to kill."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: What the process runs: the journal given the start document, then nothing until killed.
_WRITER = """
import json, sys, time
from pathlib import Path
from acq.runtime.open_runs import OpenRunJournal
journal = OpenRunJournal(Path(sys.argv[1]))  # (its entries are closed with it)
journal("start", json.loads(sys.argv[2]))
print("open", flush=True)
time.sleep(600)
"""


@contextmanager
def open_run_writer(directory: Path, start: dict) -> Iterator[subprocess.Popen]:
    """A process that has opened the run of ``start`` in the journal under ``directory``,
    alive until the block kills it (killed after the block otherwise)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(directory), json.dumps(start)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "open\n", "the writer did not open the run"
        yield process
    finally:
        process.kill()
        process.wait(10)
        process.stdout.close()
