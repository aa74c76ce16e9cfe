"""What the terminal shows (`acq.interactive.live_display`), from documents alone: no IOC,
no server."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.utils import ProgressBarManager, RequestAbort
from event_model import compose_run
from ophyd.sim import SynAxis
from ophyd.status import MoveStatus, StatusBase

from acq.analysis.eis_fit import circuit_impedance
from acq.interactive.live_display import (
    OneLineRunEngineLog,
    RunEnd,
    SpectrumLine,
    TraceTable,
    _progress_bar,
    one_line_bluesky_log,
    subscribe_terminal,
)

CIRCUIT = "R0-RQ"
TRUTH = {"R0_ohm": 50.0, "R_ct_ohm": 2.0e4, "Q_ct": 1e-8, "n_ct": 0.9}


def _documents(stream: str, data: dict, *, exit_status: str = "success", reason: str = ""):
    """Start, descriptor, one event and stop of a run with one ``stream``."""
    run = compose_run(metadata={"plan_name": "a_plan", "plan_type": "generator", "scan_id": 7})
    keys = {
        key: {
            "source": "test",
            "dtype": "array" if np.ndim(value) else "number",
            "shape": list(np.shape(value)),
        }
        for key, value in data.items()
    }
    descriptor = run.compose_descriptor(name=stream, data_keys=keys)
    event = descriptor.compose_event(data=data, timestamps=dict.fromkeys(data, 0.0))
    return [
        ("start", run.start_doc),
        ("descriptor", descriptor.descriptor_doc),
        ("event", event),
        ("stop", run.compose_stop(exit_status=exit_status, reason=reason)),
    ]


def _feed(callback, documents) -> None:
    for name, doc in documents:
        callback(name, doc)


def test_a_spectrum_is_one_line_with_its_range_and_fitted_charge_transfer_resistance():
    frequency = np.logspace(6, -1, 29)
    z = circuit_impedance(CIRCUIT, TRUTH, frequency)
    lines: list[str] = []
    _feed(
        SpectrumLine(CIRCUIT, write=lines.append),
        _documents(
            "primary",
            {
                "pstat_eis_frequency_Hz": np.pad(
                    frequency, (0, 3)
                ),  # padded, as the IOC's waveform
                "pstat_eis_z_real_ohm": np.pad(z.real, (0, 3)),
                "pstat_eis_z_imag_ohm": np.pad(z.imag, (0, 3)),
                "pstat_eis_num_points": 29,
            },
        ),
    )
    (line,) = lines
    assert line.startswith("spectrum: 29 points, 1e+06–0.1 Hz")
    fitted = float(line.split("R_ct = ")[1].split(" ")[0])
    assert fitted == pytest.approx(TRUTH["R_ct_ohm"], rel=0.01)


def test_the_trace_table_shows_half_cycles_and_is_silent_in_other_runs():
    printed: list[str] = []
    table = TraceTable(out=printed.append)
    _feed(table, _documents("primary", {"press_pressure_MPa": 25.0}))
    assert printed == []
    _feed(
        table,
        _documents(
            "trace",
            {
                "pstat_technique_time_s": 12.5,
                "pstat_voltage_V": 3.1,
                "pstat_current_A": 1e-6,
                "pstat_charge_mAh": 0.002,
            },
        ),
    )
    text = "\n".join(printed)
    assert "pstat_technique_time_s" in text and "3.1000" in text
    assert "scan num: 7" in text


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("success", "", "ended: success"),
        ("abort", "leak in the cell", "ended: abort — leak in the cell"),
        ("fail", "TimeoutError: pressure did not hold", "ended: fail — TimeoutError"),
    ],
)
def test_every_run_ends_with_one_line_saying_how(status, reason, expected):
    lines: list[str] = []
    _feed(
        RunEnd(write=lines.append),
        _documents("primary", {"x": 1.0}, exit_status=status, reason=reason),
    )
    (line,) = lines
    assert "(scan 7, a_plan)" in line and expected in line


def _record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException:
        return logging.LogRecord(
            "bluesky", logging.ERROR, __file__, 1, "Run aborted", (), sys.exc_info()
        )


def test_an_abort_logs_no_traceback_and_a_failure_one_line():
    quiet = OneLineRunEngineLog()
    assert not quiet.filter(_record(RequestAbort()))
    failure = _record(TimeoutError("pressure did not hold"))
    assert quiet.filter(failure)
    assert failure.exc_info is None
    assert failure.getMessage() == "Run aborted: TimeoutError: pressure did not hold"


def test_a_run_tiled_refused_is_one_line_not_a_traceback():
    one_line_bluesky_log(caller_reports=True)
    (handler,) = [
        handler
        for handler in logging.getLogger("bluesky_tiled_plugins").handlers
        if any(isinstance(f, OneLineRunEngineLog) for f in handler.filters)
    ]
    try:
        raise ConnectionError("[Errno 111] Connection refused")
    except ConnectionError:
        record = logging.LogRecord(
            "bluesky_tiled_plugins.writing.tiled_writer",
            logging.ERROR,
            __file__,
            1,
            "Primary callback TiledWriter failed while processing a 'event' document.",
            (),
            sys.exc_info(),
        )
    assert handler.filter(record)  # shown: the caller reports the plan's exception only
    assert handler.format(record) == (
        "Primary callback TiledWriter failed while processing a 'event' document.: "
        "ConnectionError: [Errno 111] Connection refused"
    )


def test_progress_bars_only_for_what_reports_progress():
    reporting = [MoveStatus(SynAxis(name="motor"), 1.0)]
    bar = _progress_bar([*reporting, StatusBase()])
    assert bar.status_objs == reporting
    bar.clear()


def test_progress_bars_follow_the_terminal():
    piped, terminal = RunEngine({}), RunEngine({})
    subscribe_terminal(piped, CIRCUIT, progress_bars=False)
    subscribe_terminal(terminal, CIRCUIT, progress_bars=True)
    assert piped.waiting_hook is None
    assert isinstance(terminal.waiting_hook, ProgressBarManager)
