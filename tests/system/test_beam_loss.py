"""The beam goes, over real Channel Access: the ring current the simulated IOC serves
(``BeamCurrent``) is dropped to 0 and brought back later. A step CT waits before its frames
(``beam_waits``); a fly CT is suspended mid pass and flies it again. Either way every frame an
event refers to was taken with the beam (none as dark as the darks), each angle once, Tiled
reads every stream's frames, and the run ends "success"."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import bluesky.plan_stubs as bps
import h5py
import numpy as np
import pytest
from bluesky_tiled_plugins import TiledWriter
from epics import caput

from conventions import data_keys
from plans import ct_scan

#: Ring current the simulated IOC serves normally, mA.
NOMINAL_MA = 400.0
#: How long the beam stays down, wall s.
DOWN_S = 1.0


@pytest.fixture
def beam_setpoint(station, station_config) -> Iterator[str]:
    """The simulated ring current's setpoint; the beam is back, and the monitor's resume
    delay as configured, after the test."""
    prefix = station_config.station.prefix + station_config.tomography.prefix
    delay = station.beam.resume_delay_s.get()
    station.beam.resume_delay_s.put(0.3)
    yield prefix + "BeamCurrent"
    caput(prefix + "BeamCurrent", NOMINAL_MA, wait=True)
    station.beam.resume_delay_s.put(delay)


def beam_dump(setpoint: str) -> None:
    """The beam gone for `DOWN_S`, then back (in a thread of its own)."""

    def dump() -> None:
        caput(setpoint, 0.0, wait=True)
        time.sleep(DOWN_S)
        caput(setpoint, NOMINAL_MA, wait=True)

    threading.Thread(target=dump, daemon=True).start()


def file_frames(documents, data_key: str = data_keys.FRAME) -> dict[str, np.ndarray]:
    """The frames of every file the documents name, by resource uid (means per frame)."""
    means = {}
    for name, doc in documents:
        if name == "resource":
            path = Path(doc["root"]) / doc["resource_path"]
        elif name == "stream_resource" and doc["data_key"] == data_key:
            path = Path(doc["uri"].removeprefix("file://localhost"))
        else:
            continue
        with h5py.File(path, "r", swmr=True) as handle:
            means[doc["uid"]] = handle["/entry/data/data"][()].mean(axis=(1, 2))
    return means


def referenced_means(documents, stream: str) -> list[float]:
    """The mean count of each frame the events of ``stream`` refer to, in order."""
    means = file_frames(documents)
    descriptors = {d["uid"] for n, d in documents if n == "descriptor" and d["name"] == stream}
    datums = {d["datum_id"]: d for n, d in documents if n == "datum"}
    values = []
    for name, doc in documents:
        if name == "event" and doc["descriptor"] in descriptors:
            datum = datums[doc["data"][data_keys.FRAME]]
            values.append(means[datum["resource"]][datum["datum_kwargs"]["point_number"]])
        elif (
            name == "stream_datum"
            and doc["descriptor"] in descriptors
            and doc["stream_resource"] in means
        ):
            frames = means[doc["stream_resource"]]
            values += list(frames[doc["indices"]["start"] : doc["indices"]["stop"]])
    return values


def in_stream(documents, stream: str) -> list[dict]:
    descriptors = {d["uid"] for n, d in documents if n == "descriptor" and d["name"] == stream}
    return [d for n, d in documents if n == "event" and d["descriptor"] in descriptors]


def test_a_step_ct_takes_no_frame_while_the_beam_is_down(RE, station, beam_setpoint, tiled_client):
    RE.subscribe(TiledWriter(tiled_client["raw"], batch_size=1))
    stage, detector = station.tomo_stage, station.detector
    projections = 7
    caput(beam_setpoint, 0.0, wait=True)  # down as the CT starts: its first flat waits

    def back_once_waiting(name: str, doc: dict) -> None:
        if doc["name"] == data_keys.BEAM_WAITS:
            threading.Timer(DOWN_S, caput, (beam_setpoint, NOMINAL_MA), {"wait": True}).start()

    RE.subscribe(back_once_waiting, "descriptor")
    RE(
        ct_scan(
            stage,
            detector,
            num_projections=projections,
            num_darks=2,
            num_flats=2,
            exposure_s=0.05,
            beam=station.beam,
        )
    )
    documents = RE.documents
    (stop,) = [doc for name, doc in documents if name == "stop"]
    assert stop["exit_status"] == "success", stop
    waits = in_stream(documents, data_keys.BEAM_WAITS)
    floor = station.beam.min_current_mA.get()
    assert [e["data"][data_keys.BEAM_CURRENT] >= floor for e in waits] == [False, True]
    first_flat = min(e["time"] for e in in_stream(documents, data_keys.FLAT))
    assert waits[1]["time"] < first_flat  # no flat before the beam was back
    primary = in_stream(documents, data_keys.PRIMARY)
    assert [e["seq_num"] for e in primary] == list(range(1, projections + 1))
    assert all(e["data"][data_keys.BEAM_CURRENT] >= floor for e in primary)
    dark = max(referenced_means(documents, data_keys.DARK))
    lit = referenced_means(documents, data_keys.PRIMARY) + referenced_means(
        documents, data_keys.FLAT
    )
    assert len(lit) == projections + 2
    assert min(lit) > 2 * dark, (lit, dark)
    # Tiled reads every stream's frames: each file holds as many frames as events refer to.
    run = tiled_client["raw"][stop["run_start"]]
    for stream, count in ((data_keys.DARK, 2), (data_keys.FLAT, 2), (data_keys.PRIMARY, 7)):
        assert run[stream][data_keys.FRAME].read().shape[0] == count
    assert stage.shutter.get() == "Closed"


def test_a_fly_ct_stops_its_pass_and_flies_it_again_with_the_beam(
    RE, station, beam_setpoint, tiled_client
):
    RE.record_interruptions = True
    RE.subscribe(TiledWriter(tiled_client["raw"], batch_size=1))
    stage, detector = station.tomo_stage, station.detector
    projections = 31
    counter = detector.cam.num_images_counter
    dumped = threading.Event()

    def dump_mid_pass(value: int, **kwargs) -> None:
        external = detector.cam.trigger_mode.get() == 1
        if external and value >= 5 and not dumped.is_set():
            dumped.set()
            beam_dump(beam_setpoint)

    watching = counter.subscribe(dump_mid_pass, run=False)
    try:
        RE(bps.mv(stage.shutter, "Closed"))
        RE(
            ct_scan(
                stage,
                detector,
                num_projections=projections,
                num_darks=1,
                num_flats=1,
                exposure_s=0.05,
                position_compare=station.position_compare,
                beam=station.beam,
            )
        )
    finally:
        counter.unsubscribe(watching)
    assert dumped.is_set()
    documents = RE.documents
    (stop,) = [doc for name, doc in documents if name == "stop"]
    assert stop["exit_status"] == "success", stop
    interruptions = [e["data"]["interruption"] for e in in_stream(documents, "interruptions")]
    assert len(interruptions) == 1 and "the beam is down" in interruptions[0], interruptions
    lit = referenced_means(documents, data_keys.PRIMARY)
    assert len(lit) == projections
    dark = max(referenced_means(documents, data_keys.DARK))
    assert min(lit) > 2 * dark, (lit, dark)
    conditions = in_stream(documents, data_keys.CT_CONDITIONS)
    assert conditions and all(data_keys.BEAM_CURRENT in e["data"] for e in conditions)
    assert stage.shutter.get() == "Closed"
    assert detector.cam.acquire.get(use_monitor=False) == 0
    # Tiled reads the replayed pass's file: every projection, each lit; and the darks, flats.
    run = tiled_client["raw"][stop["run_start"]]
    frames = run["primary"][data_keys.FRAME].read()
    assert frames.shape[0] == projections
    assert frames.reshape(projections, -1).mean(axis=1).min() > 2 * dark
    assert run[data_keys.DARK][data_keys.FRAME].read().shape[0] == 1
    assert run[data_keys.FLAT][data_keys.FRAME].read().shape[0] == 1
