"""Reading what an analysis needs from a raw run in Tiled (a `BlueskyRun` client).

The live worker reads the CT frames this way once the run is in Tiled; a replay reads
everything this way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from conventions import data_keys

from .cycling import HalfCycle

#: Streams that may hold the projections: a pressure series' and a lone ``ct_scan``'s.
PROJECTION_STREAMS = (data_keys.PROJECTION, data_keys.PRIMARY)
#: Event keys of a spectrum (device ``pstat``).
SPECTRUM_KEYS = (
    data_keys.SPECTRUM_FREQUENCY,
    data_keys.SPECTRUM_Z_REAL,
    data_keys.SPECTRUM_Z_IMAG,
    data_keys.SPECTRUM_POINTS,
)
#: Event keys of a load-cell reading (device ``press``).
PRESS_KEYS = (data_keys.PRESS_SETPOINT, data_keys.PRESS_FORCE, data_keys.PRESS_PRESSURE)


class RawRunError(RuntimeError):
    """A raw run that cannot be analysed (missing, incomplete, or not readable)."""


@dataclass(frozen=True)
class CTFrames:
    """A CT scan read back: frames (N, Y, X) and their angles (deg), darks, flats."""

    projections: np.ndarray
    darks: np.ndarray
    flats: np.ndarray
    angles_deg: np.ndarray
    voxel_size_um: float


def finished_run(raw, uid: str | int, *, purpose: str, error: type[RawRunError] = RawRunError):
    """The raw run ``uid``, which must have its stop document.

    Parameters
    ----------
    raw
        The ``raw`` container.
    uid
        A uid or a unique prefix of one; an int is a scan id (> 0) or an index from the end
        (< 0: -1 is the latest run), as ``raw[...]`` takes them.
    purpose
        What is refused when the run is unfinished, for the message (e.g. ``"not analysed"``).
    error
        The `RawRunError` (sub)class raised.

    Raises
    ------
    RawRunError
        If ``raw`` has no such run, or it has no stop document.
    """
    try:
        run = raw[uid]
    except (KeyError, IndexError, ValueError) as lookup:  # ValueError: an ambiguous prefix
        raise error(
            f"no run {uid!r} in the 'raw' container of {raw.uri}"
            + (f" ({lookup})" if isinstance(lookup, ValueError) else "")
        ) from None
    if not run.metadata.get("stop"):
        raise error(f"run {uid!r} has no stop document (still running, or lost): {purpose}")
    return run


def wait_for_run(raw, uid: str, timeout_s: float = 120.0, poll_s: float = 0.5):
    """The raw run ``uid`` once Tiled holds its stop document.

    Raises
    ------
    RawRunError
        If it is not complete within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            run = raw[uid]
            if run.metadata.get("stop"):
                return run
        except KeyError:
            pass
        if time.monotonic() > deadline:
            raise RawRunError(f"raw run {uid} was not complete in Tiled within {timeout_s} s")
        time.sleep(poll_s)


def _column(stream, key: str) -> np.ndarray:
    return np.asarray(stream[key].read())


def _frames(stream) -> np.ndarray:
    """Frames of a stream as (N, Y, X): Resource/Datum frames come back (N, 1, Y, X)."""
    frames = _column(stream, data_keys.FRAME)
    return frames.reshape(-1, *frames.shape[-2:])


def spectra(run) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every spectrum of the run's ``eis`` stream (or a lone sweep's ``primary``)."""
    name = data_keys.EIS if data_keys.EIS in run else data_keys.PRIMARY
    if name not in run or SPECTRUM_KEYS[0] not in run[name]:
        return []
    f, zr, zi, n = (_column(run[name], key) for key in SPECTRUM_KEYS)
    return [(f[i, : n[i]], zr[i, : n[i]], zi[i, : n[i]]) for i in range(len(n))]


def half_cycles(run) -> list[HalfCycle]:
    """Every half cycle of the run's ``half_cycle`` stream."""
    if data_keys.HALF_CYCLE not in run:
        return []
    table = run[data_keys.HALF_CYCLE].read()
    return [
        HalfCycle.from_event_data({key: table[key].values[i] for key in table})
        for i in range(len(table["cycle_index"]))
    ]


def press_readings(run) -> list[tuple[float, float, float]]:
    """The load-cell readings of the first stream that read the press, one per setpoint.

    ``primary`` is looked at first (the pressure plans record the settled press there).

    Returns
    -------
    list of (setpoint_MPa, force_N, pressure_MPa)
        The first reading at each setpoint, in the order the setpoints were first seen;
        empty if no stream read the press.
    """
    for name in sorted(run, key=lambda stream: stream != data_keys.PRIMARY):
        stream = run[name]
        if set(PRESS_KEYS) <= set(stream):
            readings: dict[float, tuple[float, float, float]] = {}
            for setpoint, force, pressure in zip(
                *(_column(stream, key) for key in PRESS_KEYS), strict=True
            ):
                readings.setdefault(
                    float(setpoint), (float(setpoint), float(force), float(pressure))
                )
            return list(readings.values())
    return []


def ct_frames(run) -> CTFrames | None:
    """The run's CT scan, or None if it has none."""
    stream = next(
        (name for name in PROJECTION_STREAMS if name in run and data_keys.FRAME in run[name]), None
    )
    if stream is None or data_keys.DARK not in run or data_keys.FLAT not in run:
        return None
    technique: dict[str, Any] = run.metadata["start"].get("technique", {})
    technique = technique.get("ct", technique)
    return CTFrames(
        projections=_frames(run[stream]),
        darks=_frames(run[data_keys.DARK]),
        flats=_frames(run[data_keys.FLAT]),
        angles_deg=_column(run[stream], data_keys.ANGLE).astype(float),
        voxel_size_um=float(technique["pixel_size_um"]),
    )
