"""Analysis results as Bluesky runs in Tiled's ``analysis`` container.

An analysis run's start document names the raw run it was computed from (``raw_uid``), the
stack pressure and the series, whether it is a replay, and the software versions; each kind of
result is a stream (``summary``: one event of scalars; ``eis_fit``; ``cycles``: one event per
cycle; ``ct``: metrics with the tortuosity histogram and a reconstructed slice). The same
`tiled` client reads them back as it reads raw runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import event_model
import numpy as np
from bluesky_tiled_plugins import TiledWriter
from tiled.queries import Key

#: TiledWriter's ``max_array_size`` that writes every array in events as zarr, for raw and
#: analysis runs alike: arrays of up to 16 elements would otherwise go to the SQL table
#: storage, which cannot hold them (a 15-point spectrum failed with "Unsupported PyArrow
#: type: list<item: double>").
ALL_ARRAYS_AS_ZARR = 0
#: Start-document key naming the raw run an analysis run was computed from.
RAW_UID_KEY = "raw_uid"

DocumentCallback = Callable[[str, Any], object]


def _data_key(value: Any) -> dict:
    if isinstance(value, (bool, np.bool_)):
        return {"source": "analysis", "dtype": "boolean", "shape": []}
    if isinstance(value, str):
        return {"source": "analysis", "dtype": "string", "shape": []}
    if isinstance(value, np.ndarray):
        return {
            "source": "analysis",
            "dtype": "array",
            "shape": list(value.shape),
            "dtype_numpy": value.dtype.str,
        }
    return {"source": "analysis", "dtype": "number", "shape": []}


def _plain(value: Any) -> Any:
    """A value TiledWriter stores: None becomes NaN, arrays stay arrays."""
    if value is None:
        return math.nan
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def analysis_writer(analysis) -> TiledWriter:
    """A TiledWriter into the ``analysis`` container that stores every array as zarr (see
    `ALL_ARRAYS_AS_ZARR`)."""
    return TiledWriter(analysis, max_array_size=ALL_ARRAYS_AS_ZARR)


def write_analysis_run(
    callback: DocumentCallback,
    metadata: Mapping[str, Any],
    streams: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    exit_status: Literal["success", "fail"] = "success",
    reason: str = "",
) -> str:
    """Emit one analysis run's documents to ``callback`` (e.g. a `TiledWriter`).

    Parameters
    ----------
    callback
        Receives (name, document) pairs.
    metadata
        Start-document metadata; must name the raw run (``raw_uid``).
    streams
        Events by stream name; each event a mapping of data key to value (scalar, string,
        bool or array; None is stored as NaN). Every event of a stream has the same keys.
    exit_status, reason
        Of the stop document: an analysis that failed is a run with ``exit_status`` "fail",
        the error as its ``reason`` and no streams.

    Returns
    -------
    str
        The analysis run's uid.
    """
    if RAW_UID_KEY not in metadata:
        raise ValueError(f"analysis metadata must name the raw run ({RAW_UID_KEY!r})")
    run = event_model.compose_run(metadata=dict(metadata))
    callback("start", run.start_doc)
    for name, events in streams.items():
        if not events:
            continue
        rows = [{key: _plain(value) for key, value in event.items()} for event in events]
        descriptor = run.compose_descriptor(
            name=name, data_keys={key: _data_key(value) for key, value in rows[0].items()}
        )
        callback("descriptor", descriptor.descriptor_doc)
        now = time.time()
        for row in rows:
            callback(
                "event", descriptor.compose_event(data=row, timestamps=dict.fromkeys(row, now))
            )
    callback("stop", run.compose_stop(exit_status=exit_status, reason=reason))
    return run.start_doc["uid"]


def analysis_runs_of(analysis, raw_uid: str) -> list:
    """The analysis runs computed from raw run ``raw_uid`` (oldest first)."""
    found = analysis.search(Key(f"start.{RAW_UID_KEY}") == raw_uid)
    return [found[key] for key in found]


def wait_for_analysis(analysis, raw_uid: str, timeout_s: float = 120.0, poll_s: float = 0.5):
    """The newest complete analysis run of ``raw_uid``, once there is one (the analysis
    worker takes its runs in order, and a CT reconstruction takes seconds).

    Raises
    ------
    TimeoutError
        If none is complete within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        runs = [run for run in analysis_runs_of(analysis, raw_uid) if run.metadata.get("stop")]
        if runs:
            return runs[-1]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no analysis of raw run {raw_uid} within {timeout_s} s")
        time.sleep(poll_s)


def summary_row(analysis_run) -> dict[str, Any]:
    """An analysis run's ``summary`` stream as one row of plain values."""
    table = analysis_run["summary"].read()
    return {key: table[key].values[0] for key in table}


def analysis_summary(analysis, raw_uid: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """The summary row of raw run ``raw_uid``'s newest complete analysis run, once there is
    one (see `wait_for_analysis`)."""
    return summary_row(wait_for_analysis(analysis, raw_uid, timeout_s))
