"""An imported measurement as a Bluesky run's documents, in the station's own streams, data
keys and units (`conventions.data_keys`), so the analysis and replay read it as they read a
run of `plans.eis.eis_sweep` or `plans.cycling.galvanostatic_cycles`.

A spectrum is one event of ``primary`` (as a lone ``eis_sweep``'s); half cycles are one
``trace`` event page each (the recorded points, as the live readings) and one ``half_cycle``
event each, waveforms NaN-padded to the longest half cycle (as the instrument's buffer pads
them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from event_model import compose_run
from scipy.integrate import cumulative_trapezoid

from conventions import data_keys
from conventions.impedance import RECORDED_FREQUENCY_RTOL, sweep_frequencies_Hz
from plans.eis import ImpedanceSettings

from .measurement import Measurement

Document = tuple[str, Mapping[str, Any]]


def _key(source: str, dtype: str, shape: list[int] | None = None) -> dict[str, Any]:
    return {"source": source, "dtype": dtype, "shape": shape or []}


def equivalent_sweep(measurement: Measurement) -> ImpedanceSettings | None:
    """The `eis_sweep` settings whose frequencies are the file's one spectrum's (to
    `RECORDED_FREQUENCY_RTOL`), with its amplitude (the plan's default if the file gives
    none); None for another grid, several spectra, or half cycles."""
    if len(measurement.spectra) != 1 or measurement.half_cycles:
        return None
    frequency_Hz = measurement.spectra[0][0]
    decades = abs(math.log10(frequency_Hz[-1] / frequency_Hz[0]))
    if decades == 0:
        return None
    points_per_decade = round((frequency_Hz.size - 1) / decades)
    try:
        settings = ImpedanceSettings(
            float(frequency_Hz[0]),
            float(frequency_Hz[-1]),
            points_per_decade,
            *([] if measurement.amplitude_V is None else [measurement.amplitude_V]),
        )
        grid = sweep_frequencies_Hz(
            settings.start_frequency_Hz, settings.stop_frequency_Hz, points_per_decade
        )
    except ValueError:  # beyond what the station's potentiostat can sweep
        return None
    if grid.shape != frequency_Hz.shape or not np.allclose(
        grid, frequency_Hz, rtol=RECORDED_FREQUENCY_RTOL
    ):
        return None
    return settings


def run_documents(measurement: Measurement, metadata: dict[str, Any]) -> Iterator[Document]:
    """The documents of one imported run, start to stop.

    Parameters
    ----------
    measurement
        What the file holds.
    metadata
        The start document's metadata (``plan_name`` "import", the source file, the cell…).
    """
    run = compose_run(metadata=metadata)
    yield "start", run.start_doc
    source = f"import:{metadata['source_file']}"
    now = time.time()
    if measurement.spectra:
        length = max(f.size for f, _, _ in measurement.spectra)
        keys = {
            key: _key(source, "array", [length])
            for key in (
                data_keys.SPECTRUM_FREQUENCY,
                data_keys.SPECTRUM_Z_REAL,
                data_keys.SPECTRUM_Z_IMAG,
            )
        }
        keys[data_keys.SPECTRUM_POINTS] = _key(source, "integer")
        stream = run.compose_descriptor(name=data_keys.PRIMARY, data_keys=keys)
        yield "descriptor", stream.descriptor_doc
        for seq_num, columns in enumerate(measurement.spectra, start=1):
            data: dict[str, Any] = dict(
                zip(list(keys)[:3], (_padded(c, length) for c in columns), strict=True)
            )
            data[data_keys.SPECTRUM_POINTS] = int(columns[0].size)
            yield (
                "event",
                stream.compose_event(
                    data=data, timestamps=dict.fromkeys(data, now), seq_num=seq_num
                ),
            )
    if measurement.half_cycles:
        yield from _cycling(run, measurement, source, now)
    yield "stop", run.compose_stop(exit_status="success")


def _cycling(run, measurement: Measurement, source: str, now: float) -> Iterator[Document]:
    halves = measurement.half_cycles
    trace_keys = {
        data_keys.LIVE_TIME: _key(source, "number"),
        data_keys.LIVE_VOLTAGE: _key(source, "number"),
        data_keys.LIVE_CURRENT: _key(source, "number"),
        data_keys.LIVE_CHARGE: _key(source, "number"),
        data_keys.CYCLE_INDEX: _key(source, "integer"),
        data_keys.CYCLE_STEP: _key(source, "string"),
    }
    trace = run.compose_descriptor(name=data_keys.TRACE, data_keys=trace_keys)
    length = max(half.time_s.size for half in halves)
    half_keys = {
        data_keys.HALF_CYCLE_TIME: _key(source, "array", [length]),
        data_keys.HALF_CYCLE_VOLTAGE: _key(source, "array", [length]),
        data_keys.HALF_CYCLE_CURRENT: _key(source, "array", [length]),
        data_keys.HALF_CYCLE_POINTS: _key(source, "integer"),
        data_keys.HALF_CYCLE_CAPACITY: _key(source, "number"),
        data_keys.HALF_CYCLE_REASON: _key(source, "string"),
        data_keys.CYCLE_INDEX: _key(source, "integer"),
        data_keys.CYCLE_STEP: _key(source, "string"),
    }
    recorded = run.compose_descriptor(name=data_keys.HALF_CYCLE, data_keys=half_keys)
    yield "descriptor", trace.descriptor_doc
    yield "descriptor", recorded.descriptor_doc
    seq = 0
    for number, half in enumerate(halves, start=1):
        n = half.time_s.size
        charge_mAh = np.abs(cumulative_trapezoid(half.current_A, half.time_s, initial=0)) / 3.6
        columns = {
            data_keys.LIVE_TIME: half.time_s.tolist(),
            data_keys.LIVE_VOLTAGE: half.voltage_V.tolist(),
            data_keys.LIVE_CURRENT: half.current_A.tolist(),
            data_keys.LIVE_CHARGE: charge_mAh.tolist(),
            data_keys.CYCLE_INDEX: [half.cycle_index] * n,
            data_keys.CYCLE_STEP: [half.step] * n,
        }
        yield (
            "event_page",
            trace.compose_event_page(
                data=columns,
                timestamps={key: [now] * n for key in columns},
                seq_num=list(range(seq + 1, seq + n + 1)),
                time=[now] * n,
            ),
        )
        seq += n
        data = {
            data_keys.HALF_CYCLE_TIME: _padded(half.time_s, length),
            data_keys.HALF_CYCLE_VOLTAGE: _padded(half.voltage_V, length),
            data_keys.HALF_CYCLE_CURRENT: _padded(half.current_A, length),
            data_keys.HALF_CYCLE_POINTS: n,
            data_keys.HALF_CYCLE_CAPACITY: half.capacity_mAh,
            data_keys.HALF_CYCLE_REASON: half.termination_reason,
            data_keys.CYCLE_INDEX: half.cycle_index,
            data_keys.CYCLE_STEP: half.step,
        }
        yield (
            "event",
            recorded.compose_event(data=data, timestamps=dict.fromkeys(data, now), seq_num=number),
        )


def _padded(values: np.ndarray, length: int) -> list[float]:
    """``values`` NaN-padded to ``length``, as a list (documents hold plain values)."""
    return np.pad(values.astype(float), (0, length - values.size), constant_values=np.nan).tolist()
