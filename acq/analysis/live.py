"""The live-analysis callback: fit each spectrum as it arrives, each half cycle as it ends,
the CT once the run is in Tiled; write an analysis run naming the raw one.

It runs in the analysis worker (`acq.services.analysis_worker`, fed by bluesky's 0MQ document
stream, so a CT reconstruction never delays acquisition) or, for tests, in process on a thread of
its own (`acq.runtime.BackgroundWriter`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from event_model import DocumentRouter, unpack_event_page

from conventions import data_keys
from conventions.impedance import DEFAULT_CIRCUIT
from conventions.versions import package_versions

from .cycling import HalfCycle
from .pressure_point import CellGeometry, PressurePointAnalysis
from .raw_run import ct_frames, wait_for_run
from .results import RAW_UID_KEY, analysis_writer, write_analysis_run

logger = logging.getLogger(__name__)

#: Version of the analysis (recorded in every analysis run).
ANALYSIS_VERSION = "1"
#: Distributions whose versions every analysis run records.
ANALYSIS_PACKAGES = (
    "ssb-beamline",
    "numpy",
    "scipy",
    "scikit-image",
    "event-model",
    "tiled",
    "bluesky-tiled-plugins",
)


class LiveAnalysis(DocumentRouter):
    """Analyse every raw run that carries cell metadata; write the results to Tiled.

    Parameters
    ----------
    client
        Tiled client with the ``raw`` and ``analysis`` containers.
    circuit
        Equivalent circuit the spectra are fitted to.
    report
        Called with a one-line message for each result (e.g. ``print``).
    run_timeout_s
        How long to wait for a finished run's frames to be in Tiled, s.
    """

    def __init__(
        self,
        client,
        *,
        circuit: str = DEFAULT_CIRCUIT,
        report: Callable[[str], object] = logger.info,
        run_timeout_s: float = 300.0,
    ) -> None:
        super().__init__()
        self.client = client
        self.circuit = circuit
        self.report = report
        self.run_timeout_s = run_timeout_s
        self.written: dict[str, str] = {}  # raw uid -> analysis uid
        self._start: dict[str, Any] | None = None
        self._point: PressurePointAnalysis | None = None
        self._streams: dict[str, str] = {}

    def start(self, doc):
        self._start, self._point, self._streams = doc, None, {}
        if "cell" in doc:
            self._point = PressurePointAnalysis(
                CellGeometry.from_start(doc), float(doc.get("pressure_MPa", "nan")), self.circuit
            )

    def descriptor(self, doc):
        self._streams[doc["uid"]] = doc["name"]

    def event_page(self, doc):
        for event in unpack_event_page(doc):
            self.event(event)

    def event(self, doc):
        if self._point is None:
            return
        stream, data = self._streams.get(doc["descriptor"]), doc["data"]
        if data_keys.SPECTRUM_Z_REAL in data:
            n = int(data[data_keys.SPECTRUM_POINTS])
            fit = self._point.add_spectrum(
                data[data_keys.SPECTRUM_FREQUENCY][:n],
                data[data_keys.SPECTRUM_Z_REAL][:n],
                data[data_keys.SPECTRUM_Z_IMAG][:n],
            )
            self.report(f"{self._label()} EIS: {fit.summary()}")
        elif stream == data_keys.HALF_CYCLE:
            half = HalfCycle.from_event_data(data)
            self._point.add_half_cycle(half)
            self.report(
                f"{self._label()} cycle {half.cycle_index} {half.step}: "
                f"{half.capacity_mAh:.4g} mAh, {half.termination_reason}"
            )

    def stop(self, doc):
        point, start = self._point, self._start
        self._point = None
        if point is None or start is None:
            return
        if {data_keys.DARK, data_keys.FLAT} <= set(self._streams.values()):
            run = wait_for_run(self.client["raw"], start["uid"], self.run_timeout_s)
            frames = ct_frames(run)
            if frames is not None:
                ct = point.add_ct(
                    frames.projections,
                    frames.darks,
                    frames.flats,
                    frames.angles_deg,
                    frames.voxel_size_um,
                )
                self.report(
                    f"{self._label(start)} CT: porosity {ct.porosity_electrode:.3f}"
                    f"/{ct.porosity_electrolyte:.3f}, contact {ct.contact_rate:.3f}, "
                    f"tortuosity {ct.tortuosity_mode:.2f}"
                )
        self.written[start["uid"]] = write_analysis_run(
            analysis_writer(self.client["analysis"]),
            analysis_metadata(start, replay=False),
            point.streams(),
        )

    def _label(self, start: dict | None = None) -> str:
        start = start or self._start or {}
        pressure = start.get("pressure_MPa")
        return f"[{start.get('uid', '?')[:8]}{f' {pressure:g} MPa' if pressure else ''}]"


def analysis_metadata(raw_start: dict[str, Any], *, replay: bool) -> dict[str, Any]:
    """Start metadata of the analysis run of ``raw_start``'s run."""
    keys = ("pressure_MPa", "series_uid", "series_index", "sample", "plan_name")
    return {
        RAW_UID_KEY: raw_start["uid"],
        "analysis": "pressure_point",
        "analysis_version": ANALYSIS_VERSION,
        "replay": replay,
        "versions": package_versions(ANALYSIS_PACKAGES),
        **{key: raw_start[key] for key in keys if key in raw_start},
    }
