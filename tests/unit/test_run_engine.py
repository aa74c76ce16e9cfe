"""The station's RunEngine (`acq.runtime.engine`) without Tiled: interruptions recorded, and
an abort of a run suspended inside an event bundle closes the run."""

from __future__ import annotations

import threading

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest
from bluesky.suspenders import SuspendBoolHigh
from bluesky.utils import RunEngineInterrupted
from ophyd import Signal
from ophyd.sim import det

from acq.runtime.engine import make_run_engine


def suspended_inside_an_event(trip: Signal):
    """A run whose suspender trips between ``create`` and ``save`` (as a pressure lost while
    ``trigger_and_read`` reads can)."""

    @bpp.run_decorator()
    def inner():
        yield from bps.checkpoint()
        yield from bps.create("primary")
        try:
            yield from bps.read(det)
            yield from bps.mv(trip, 1)
            yield from bps.sleep(10)  # where the suspension lands
            yield from bps.save()
        except Exception:
            yield from bps.drop()  # as trigger_and_read does
            raise

    return bpp.suspend_wrapper(inner(), SuspendBoolHigh(trip))


def test_an_abort_of_a_run_suspended_inside_an_event_closes_the_run(config):
    engine = make_run_engine(config)
    documents: list = []
    engine.RE.subscribe(lambda name, doc: documents.append((name, doc)))
    trip = Signal(name="trip", value=0)
    pause = threading.Timer(1.0, engine.RE.request_pause, kwargs={"defer": False})
    pause.start()
    with pytest.raises(RunEngineInterrupted):
        engine.RE(suspended_inside_an_event(trip))
    pause.join()
    engine.RE.abort("operator")
    stops = [doc for name, doc in documents if name == "stop"]
    assert [(stop["exit_status"], stop["reason"]) for stop in stops] == [("abort", "operator")]
    descriptors = {doc["name"]: doc["uid"] for name, doc in documents if name == "descriptor"}
    interruptions = [
        doc["data"]["interruption"]
        for name, doc in documents
        if name == "event" and doc["descriptor"] == descriptors["interruptions"]
    ]
    assert interruptions[0].startswith("Signal trip is high")
