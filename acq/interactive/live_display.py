"""What the terminal shows while the station runs (``acq ipython``, ``acq run``).

`subscribe_terminal` gives a RunEngine bluesky's BestEffortCallback (tables of the
``primary`` stream's scalars), progress bars for moves, a line when each run ends with its
exit status, and what BestEffortCallback cannot show:

- a spectrum (an event of arrays): `SpectrumLine` prints one line per spectrum — points,
  frequency range, |Z| range and the charge-transfer resistance a quick fit finds;
- a half cycle, whose live points are events of the ``trace`` stream: `TraceTable` is a
  bluesky `LiveTable` of that stream (experiment time into the half cycle, voltage, current,
  charge).

It also makes bluesky's own log one line per message: an aborted run is told by its end line,
not by a traceback (the exception that ends a failed plan reaches the caller anyway).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable

import numpy as np
from bluesky import RunEngine
from bluesky.callbacks import LiveTable
from bluesky.callbacks.best_effort import BestEffortCallback
from bluesky.callbacks.core import CallbackBase
from bluesky.utils import (
    FailedPause,
    PlanHalt,
    ProgressBarManager,
    RequestAbort,
    TerminalProgressBar,
)
from event_model import unpack_event_page
from ophyd.status import MoveStatus

from conventions import data_keys

from ..analysis.eis_fit import fit_spectrum

#: Columns of the live cycling table.
TRACE_FIELDS = (
    data_keys.LIVE_TIME,
    data_keys.LIVE_VOLTAGE,
    data_keys.LIVE_CURRENT,
    data_keys.LIVE_CHARGE,
)


class SpectrumLine(CallbackBase):
    """Print one line for every impedance spectrum as it is measured.

    Parameters
    ----------
    circuit
        Equivalent circuit of the quick fit (the station's ``[analysis] circuit``).
    write
        Where the line goes (``print`` by default).
    """

    def __init__(self, circuit: str, write: Callable[[str], object] = print) -> None:
        super().__init__()
        self.circuit = circuit
        self.write = write

    def event_page(self, doc):
        for event in unpack_event_page(doc):
            self.event(event)

    def event(self, doc):
        data = doc["data"]
        if data_keys.SPECTRUM_Z_REAL not in data:
            return
        n = int(data[data_keys.SPECTRUM_POINTS])
        frequency = np.asarray(data[data_keys.SPECTRUM_FREQUENCY])[:n]
        z = (
            np.asarray(data[data_keys.SPECTRUM_Z_REAL])[:n]
            + 1j * np.asarray(data[data_keys.SPECTRUM_Z_IMAG])[:n]
        )
        fit = fit_spectrum(frequency, z.real, z.imag, circuit=self.circuit)
        self.write(
            f"spectrum: {n} points, {frequency.max():.3g}–{frequency.min():.3g} Hz, "
            f"|Z| {np.abs(z).min():.4g}–{np.abs(z).max():.4g} Ω; {self.circuit} fit: "
            f"{fit.summary()}"
        )


class TraceTable(LiveTable):
    """A live table of the half cycles' ``trace`` events (silent in runs without them:
    `LiveTable` would print its footer at the end of every run)."""

    def __init__(self, out: Callable[[str], object] = print) -> None:
        super().__init__(list(TRACE_FIELDS), stream_name=data_keys.TRACE, default_prec=4, out=out)
        self._tabulating = False

    def start(self, doc):
        self._tabulating = False
        super().start(doc)

    def descriptor(self, doc):
        self._tabulating = self._tabulating or doc["name"] == data_keys.TRACE
        super().descriptor(doc)

    def stop(self, doc):
        if self._tabulating:
            super().stop(doc)


class RunEnd(CallbackBase):
    """Print one line as each run ends: its uid, scan id, exit status and reason.

    Parameters
    ----------
    write
        Where the line goes (``print`` by default).
    """

    def __init__(self, write: Callable[[str], object] = print) -> None:
        super().__init__()
        self.write = write
        self._start: dict = {}

    def start(self, doc):
        self._start = doc

    def stop(self, doc):
        status, reason = doc.get("exit_status", "?"), doc.get("reason") or ""
        self.write(
            f"run {doc['run_start'][:8]} (scan {self._start.get('scan_id', '?')}, "
            f"{self._start.get('plan_name', '?')}) ended: {status}"
            + (f" — {reason}" if reason else "")
        )


#: What bluesky logs with a traceback when a run is aborted (a user's RE.abort(), a failed
#: pause): the run's end line says it already.
ABORT_EXCEPTIONS = (RequestAbort, FailedPause, PlanHalt, asyncio.CancelledError)


class OneLineRunEngineLog(logging.Filter):
    """Drops bluesky's abort tracebacks; turns any other logged exception into one line.

    With ``caller_reports`` (a command that reports the exception a plan failed with itself,
    as ``acq run`` does) the RunEngine's own line for it is dropped too.
    """

    def __init__(self, caller_reports: bool = False) -> None:
        super().__init__()
        self.caller_reports = caller_reports

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ABORT_EXCEPTIONS) or (error is not None and self.caller_reports):
            return False
        if error is not None:
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
            record.args, record.exc_info, record.exc_text = (), None, None
        return True


#: Loggers whose warnings and errors reach the terminal one line each: the RunEngine's,
#: TiledWriter's (it logs a traceback when a run goes to its backup instead of Tiled; `acq run`
#: and `acq demo` then say which runs, and where their documents are), and the plans' (a
#: technique that starts with the press's feedback off, `plans.pressure_hold`).
ONE_LINE_LOGGERS = ("bluesky", "bluesky_tiled_plugins", "plans")


def one_line_bluesky_log(caller_reports: bool = False) -> None:
    """Show bluesky's, TiledWriter's and the plans' warnings and errors as one line each on
    stderr (once per process); with ``caller_reports``, none for the exception a plan fails
    with (`OneLineRunEngineLog`)."""
    for name in ONE_LINE_LOGGERS:
        _one_line(logging.getLogger(name), caller_reports and name == "bluesky")


def _one_line(log: logging.Logger, caller_reports: bool) -> None:
    for handler in log.handlers:
        for existing in handler.filters:
            if isinstance(existing, OneLineRunEngineLog):
                existing.caller_reports = existing.caller_reports or caller_reports
                return
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(OneLineRunEngineLog(caller_reports))
    log.addHandler(handler)


def _progress_bar(statuses) -> TerminalProgressBar:
    """Bars for what reports how far it has got (moves of motors and of the press: their
    `MoveStatus`), drawn at once: bluesky's default waits 0.2 s, so a quick move showed no
    bar at all, and it draws "No progress bar available" for every other status."""
    reporting = [status for status in statuses if isinstance(status, MoveStatus)]
    return TerminalProgressBar(reporting, delay_draw=0)


def subscribe_terminal(
    RE: RunEngine, circuit: str, progress_bars: bool | None = None
) -> BestEffortCallback:
    """Everything of this module on ``RE``; returns the BestEffortCallback (plots off: an
    interactive session turns them on).

    Parameters
    ----------
    RE
        The station's RunEngine.
    circuit
        Equivalent circuit of the spectra's quick fit.
    progress_bars
        Draw progress bars (``RE.waiting_hook``); by default only when standard output is a
        terminal: their cursor movements are noise in a pipe or a log.
    """
    one_line_bluesky_log()
    if sys.stdout.isatty() if progress_bars is None else progress_bars:
        RE.waiting_hook = ProgressBarManager(_progress_bar)  # type: ignore[assignment]
    bec = BestEffortCallback()
    bec.disable_plots()
    for callback in (bec, SpectrumLine(circuit), TraceTable(), RunEnd()):
        RE.subscribe(callback)
    return bec
