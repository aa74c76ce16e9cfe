"""Live plots for the IPython session: a Nyquist plot of each spectrum as it is measured, and
the cell voltage against time while it cycles.

Both are bluesky callbacks (`bluesky.callbacks.core.CallbackBase`) over matplotlib, like
`bluesky.callbacks.mpl_plotting.LivePlot`, which plots scalars and cannot draw a spectrum (an
event holding arrays) or pick one stream out of a run that has several.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from bluesky.callbacks.core import CallbackBase
from event_model import unpack_event_page

from conventions import data_keys


class _RunPlot(CallbackBase):
    """One matplotlib figure, one line per run; events of the streams it plots."""

    title = ""

    def __init__(self, ax: plt.Axes | None = None) -> None:
        super().__init__()
        self._ax = ax
        self._streams: dict[str, str] = {}
        self._label = ""

    @property
    def ax(self) -> plt.Axes:
        if self._ax is None:
            self._ax = plt.figure(self.title).subplots()
            self._decorate(self._ax)
        return self._ax

    def _decorate(self, ax: plt.Axes) -> None:
        raise NotImplementedError

    def start(self, doc):
        self._streams = {}
        pressure = doc.get("pressure_MPa")
        self._label = f"{doc.get('sample', '')} {doc.get('plan_name', '')}" + (
            f" {pressure:g} MPa" if pressure is not None else ""
        )

    def descriptor(self, doc):
        self._streams[doc["uid"]] = doc["name"]

    def event_page(self, doc):
        for event in unpack_event_page(doc):
            self.event(event)

    def _draw(self) -> None:
        self.ax.relim()
        self.ax.autoscale_view()
        self.ax.figure.canvas.draw_idle()


class LiveNyquist(_RunPlot):
    """−Z″ against Z′ for every spectrum, labelled with the run's sample and pressure."""

    title = "Nyquist"

    def _decorate(self, ax: plt.Axes) -> None:
        ax.set_xlabel("Z′ / Ω")
        ax.set_ylabel("−Z″ / Ω")
        ax.set_aspect("equal", adjustable="datalim")

    def event(self, doc):
        data = doc["data"]
        if data_keys.SPECTRUM_Z_REAL not in data:
            return
        n = int(data[data_keys.SPECTRUM_POINTS])
        self.ax.plot(
            np.asarray(data[data_keys.SPECTRUM_Z_REAL])[:n],
            -np.asarray(data[data_keys.SPECTRUM_Z_IMAG])[:n],
            "o-",
            markersize=3,
            label=self._label,
        )
        self.ax.legend(fontsize="small")
        self._draw()


class LiveVoltage(_RunPlot):
    """Cell voltage against experiment time (h since the run's first trace point) while
    cycling.

    Parameters
    ----------
    ax
        Axes to draw on (a new figure when None).
    time_scale
        Experiment seconds per wall second of the station's clock (1 for hardware): events
        are stamped in wall time, and a monitored voltage's own timestamp is when it last
        changed, not when it was read.
    """

    title = "Cell voltage"

    def __init__(self, ax: plt.Axes | None = None, time_scale: float = 1.0) -> None:
        super().__init__(ax)
        self.time_scale = time_scale
        self._line = None
        self._t0: float | None = None

    def _decorate(self, ax: plt.Axes) -> None:
        ax.set_xlabel("time / h")
        ax.set_ylabel("voltage / V")

    def start(self, doc):
        super().start(doc)
        self._line, self._t0 = None, None

    def event(self, doc):
        if self._streams.get(doc["descriptor"]) != data_keys.TRACE:
            return
        self._t0 = doc["time"] if self._t0 is None else self._t0
        hours = (doc["time"] - self._t0) * self.time_scale / 3600.0
        volts = doc["data"][data_keys.LIVE_VOLTAGE]
        if self._line is None:
            (self._line,) = self.ax.plot([hours], [volts], "-", label=self._label)
            self.ax.legend(fontsize="small")
        else:
            self._line.set_data(
                np.append(self._line.get_xdata(), hours), np.append(self._line.get_ydata(), volts)
            )
        self._draw()
