"""`acq.runtime.streaming.BackgroundWriter` holding a stream's events back and handing them
on as event pages: at ``max_events``, before any other document, at a flush, and once
``max_delay_s`` has passed with nothing else coming; in order, each event once."""

from __future__ import annotations

import threading
import time

import pytest
from event_model import unpack_event_page

from acq.runtime.streaming import BackgroundWriter


class Recorder:
    """A callback keeping what it is given (events of pages unpacked, with the page's size)."""

    def __init__(self) -> None:
        self.documents: list[tuple[str, dict]] = []
        self.arrived = threading.Event()

    def __call__(self, name: str, doc: dict) -> None:
        self.documents.append((name, doc))
        self.arrived.set()

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.documents]

    @property
    def page_sizes(self) -> list[int]:
        return [len(doc["seq_num"]) for name, doc in self.documents if name == "event_page"]

    def events(self) -> list[dict]:
        events = []
        for name, doc in self.documents:
            if name == "event":
                events.append(doc)
            elif name == "event_page":
                events.extend(unpack_event_page(doc))
        return events


def event(descriptor: str, seq_num: int) -> dict:
    return {
        "uid": f"{descriptor}-{seq_num}",
        "descriptor": descriptor,
        "seq_num": seq_num,
        "time": time.time(),  # the worker waits from an event's time on
        "data": {"x": seq_num},
        "timestamps": {"x": float(seq_num)},
        "filled": {},
    }


def emit(writer: BackgroundWriter, documents: list[tuple[str, dict]]) -> None:
    for name, doc in documents:
        writer(name, doc)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_events_go_on_in_pages_of_max_events_and_before_other_documents(recorder):
    # A delay far beyond the test: only the size, other documents and the flush hand on.
    writer = BackgroundWriter(recorder, max_events=4, max_delay_s=3600.0)
    primary = [event("primary", i) for i in range(1, 11)]
    baseline = [event("baseline", i) for i in range(1, 3)]
    emit(
        writer,
        [
            ("start", {"uid": "run"}),
            ("descriptor", {"uid": "primary"}),
            *(("event", doc) for doc in primary[:6]),
            ("descriptor", {"uid": "baseline"}),
            *(("event", doc) for doc in primary[6:9]),
            ("event", baseline[0]),
            ("event", baseline[1]),
            ("event", primary[9]),
        ],
    )
    assert writer.flush(30)
    emit(writer, [("stop", {"run_start": "run"})])
    writer.close(30)

    assert recorder.names == [
        "start",
        "descriptor",
        "event_page",  # 4: max_events
        "event_page",  # 2: before the descriptor
        "descriptor",
        "event_page",  # 3: before the other stream's event
        "event_page",  # 2 of baseline: before primary's event
        "event",  # 1: at the flush
        "stop",
    ]
    assert recorder.page_sizes == [4, 2, 3, 2]
    assert recorder.events() == [*primary[:9], *baseline, primary[9]]
    assert writer.failures == 0


def test_held_events_go_on_after_max_delay_with_nothing_else_coming(recorder):
    writer = BackgroundWriter(recorder, max_events=1000, max_delay_s=0.05)
    emit(writer, [("event", event("primary", 1)), ("event", event("primary", 2))])
    assert recorder.arrived.wait(30)  # no flush, no other document
    assert recorder.names == ["event_page"]
    assert writer.pending == 0
    writer.close(30)


def test_without_max_events_every_event_goes_on_alone(recorder):
    writer = BackgroundWriter(recorder)
    documents = [("event", event("primary", i)) for i in range(1, 4)]
    emit(writer, documents)
    writer.close(30)
    assert recorder.documents == documents


def test_a_failed_page_is_counted_and_later_documents_still_go_on():
    given: list[str] = []

    def fail_on_pages(name: str, doc: dict) -> None:
        if name == "event_page":
            raise RuntimeError("Tiled answered 500")
        given.append(name)

    writer = BackgroundWriter(fail_on_pages, max_events=2, max_delay_s=3600.0)
    emit(writer, [("event", event("primary", i)) for i in (1, 2)])
    emit(writer, [("stop", {"run_start": "run"})])
    writer.close(30)
    assert writer.failures == 1
    assert given == ["stop"]
