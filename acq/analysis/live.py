"""The live-analysis callback: fit each spectrum as it arrives, each half cycle as it ends,
the CT once the run is in Tiled; write an analysis run naming the raw one.

It runs in the analysis worker (`acq.services.analysis_worker`, fed by bluesky's 0MQ document
stream, so a CT reconstruction never delays acquisition) or, for tests, in process on a thread of
its own (`acq.runtime.BackgroundWriter`).

Runs the stream did not bring whole are analysed from Tiled instead (`analyse_recorded_run`,
which replay uses too): a run whose start came before the worker was listening, once its stop
arrives, and, at the worker's start, every finished run with no analysis run (`missed_runs`,
`LiveAnalysis.catch_up`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx
from event_model import DocumentRouter, unpack_event_page

from conventions import data_keys
from conventions.impedance import DEFAULT_CIRCUIT
from conventions.versions import package_versions

from .cycling import HalfCycle
from .pressure_point import PressurePointAnalysis, analyse_raw_run
from .raw_run import RawRunError, ct_frames, wait_for_run
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
#: Failures of reading a run rather than of analysing it: the run is tried again at the next
#: catch-up (its stop not yet in Tiled, e.g. before ``acq recover``; Tiled unreachable).
READ_FAILURES = (RawRunError, httpx.TransportError)


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

    Each raw run gets at most one analysis run from this callback, live or from Tiled. An
    analysis from Tiled that fails is recorded as an analysis run with ``exit_status``
    "fail" and the error as its ``reason``, so no catch-up tries it again (``acq replay``
    does, by hand); a live one that fails is tried again from Tiled by the next catch-up.
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
        self.failed: dict[str, str] = {}  # raw uid -> why its analysis from Tiled failed
        # Held while a run is analysed and written, live or caught up: one analysis each.
        self._writing = threading.Lock()
        self._start: dict[str, Any] | None = None
        self._point: PressurePointAnalysis | None = None
        self._streams: dict[str, str] = {}

    def start(self, doc):
        self._start, self._point, self._streams = doc, None, {}
        if "cell" in doc:
            self._point = PressurePointAnalysis.from_start(doc, self.circuit)

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
        if start is None or start["uid"] != doc["run_start"]:  # the start came before us
            self.analyse_from_tiled(doc["run_start"], wait_s=self.run_timeout_s)
            return
        if point is None:
            return
        with self._writing:
            if start["uid"] in self.written or start["uid"] in self.failed:  # caught up meanwhile
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

    def catch_up(self) -> list[str]:
        """Analyse from Tiled every finished run that has no analysis run (`missed_runs`),
        oldest first.

        Returns
        -------
        list of str
            The raw uids given an analysis run.
        """
        try:
            missed = missed_runs(self.client)
        except READ_FAILURES as error:
            self.report(f"catch-up: the runs in Tiled could not be listed ({error})")
            return []
        if missed:
            self.report(
                f"catching up on {len(missed)} finished run(s) with no analysis run: "
                + ", ".join(uid[:8] for uid in missed)
            )
        return [uid for uid in missed if self.analyse_from_tiled(uid)]

    def analyse_from_tiled(self, uid: str, wait_s: float = 0.0) -> bool:
        """Analyse raw run ``uid`` as Tiled holds it, once its stop document is there, unless
        this callback has analysed it already or it is not a station run (no cell metadata,
        or a replay).

        Parameters
        ----------
        uid
            The raw run.
        wait_s
            How long its stop document may take to reach Tiled, s.

        Returns
        -------
        bool
            Whether an analysis run was written.
        """
        label = f"[{uid[:8]}]"
        with self._writing:
            if uid in self.written or uid in self.failed:
                return False
            try:
                run = wait_for_run(self.client["raw"], uid, wait_s)
                start = run.metadata["start"]
            except Exception as error:  # not read: tried again at the next catch-up
                self.report(f"{label} not analysed ({error}); the next catch-up tries again")
                return False
            if "cell" not in start or start.get("replay"):
                return False
            try:
                self.written[uid] = analyse_recorded_run(
                    self.client, run, self.circuit, caught_up=True
                )
            except READ_FAILURES as error:
                self.report(f"{label} not analysed ({error}); the next catch-up tries again")
                return False
            except Exception as error:
                logger.exception("analysing raw run %s from Tiled failed", uid)
                self._record_failure(uid, start, f"{type(error).__name__}: {error}")
                return False
        self.report(f"{label} analysed from Tiled (caught up): analysis run {self.written[uid]}")
        return True

    def _record_failure(self, uid: str, start: dict[str, Any], reason: str) -> None:
        """An analysis run saying the analysis of ``uid`` failed, so none tries it again."""
        self.failed[uid] = reason
        try:
            write_analysis_run(
                analysis_writer(self.client["analysis"]),
                analysis_metadata(start, replay=False, caught_up=True),
                {},
                exit_status="fail",
                reason=reason,
            )
        except READ_FAILURES as error:
            self.report(f"[{uid[:8]}] analysis failed ({reason}); not recorded ({error})")
            return
        self.report(
            f"[{uid[:8]}] analysis failed ({reason}); recorded in 'analysis' with exit_status "
            f"'fail', not tried again (`acq replay {uid[:8]}` does)"
        )

    def _label(self, start: dict | None = None) -> str:
        start = start or self._start or {}
        pressure = start.get("pressure_MPa")
        return f"[{start.get('uid', '?')[:8]}{f' {pressure:g} MPa' if pressure else ''}]"


def analysis_metadata(
    raw_start: dict[str, Any], *, replay: bool, caught_up: bool = False
) -> dict[str, Any]:
    """Start metadata of the analysis run of ``raw_start``'s run (``caught_up``: analysed
    from Tiled by the live analysis, having missed it in the stream)."""
    keys = ("pressure_MPa", "series_uid", "series_index", "sample", "plan_name")
    return {
        RAW_UID_KEY: raw_start["uid"],
        "analysis": "pressure_point",
        "analysis_version": ANALYSIS_VERSION,
        "replay": replay,
        "caught_up": caught_up,
        "versions": package_versions(ANALYSIS_PACKAGES),
        **{key: raw_start[key] for key in keys if key in raw_start},
    }


def analyse_recorded_run(
    client, run, circuit: str, *, replay: bool = False, caught_up: bool = False
) -> str:
    """Analyse a finished raw run as Tiled holds it and write its analysis run.

    The numbers are the live analysis's for the same software (both are a
    `PressurePointAnalysis`).

    Parameters
    ----------
    client
        Tiled client with the ``raw`` and ``analysis`` containers.
    run
        The raw run (a `BlueskyRun` client) with its stop document.
    circuit
        Equivalent circuit the spectra are fitted to.
    replay, caught_up
        How the analysis run is marked (`analysis_metadata`).

    Returns
    -------
    str
        The analysis run's uid.
    """
    point = analyse_raw_run(run, circuit)
    return write_analysis_run(
        analysis_writer(client["analysis"]),
        analysis_metadata(run.metadata["start"], replay=replay, caught_up=caught_up),
        point.streams(),
    )


def missed_runs(client) -> list[str]:
    """Raw runs with no analysis run, finished, from the station (cell metadata, not a
    replay), oldest first.

    The whole catalog, not only the runs since the newest analysis: a run missed before later
    ones were analysed (a live analysis that failed, a run recovered into Tiled later) is
    found too. It costs two metadata queries and a lookup per raw run with no analysis run;
    every failure is recorded as an analysis run (`LiveAnalysis`), so each run is looked at
    until it has one.
    """
    raw = client["raw"]
    analysed = _distinct(client["analysis"], f"start.{RAW_UID_KEY}")
    found = []
    for uid in _distinct(raw, "start.uid") - analysed:
        try:
            metadata = raw[uid].metadata
        except KeyError:
            continue
        start = metadata.get("start", {})
        if metadata.get("stop") and "cell" in start and not start.get("replay"):
            found.append((start.get("time", 0.0), uid))
    return [uid for _, uid in sorted(found)]


def _distinct(container, key: str) -> set[str]:
    """The values a metadata key takes over a container's entries (one query)."""
    values = container.distinct(key)["metadata"][key]
    return {entry["value"] for entry in values if entry["value"] is not None}
