"""Events into Tiled: how many per second, how soon a reader sees them, what the RunEngine pays.

Against an embedded Tiled server (`acq.services.EmbeddedTiled`, SQLite), in one run:

- **throughput**: a run's documents, made beforehand, handed to the station's writer
  (`acq.runtime.streaming.TiledBackgroundWriter`) as fast as it takes them; events ÷ seconds
  until all are in Tiled; at two run lengths (how the cost per event grows with the run);
- **emit→readable latency**: a RunEngine counting a signal at a few paced rates and unpaced,
  while a polling reader reads the run's table over and over; each event's latency is the
  end of the first read that holds it minus the event's time; p50 and p95;
- **RunEngine per event**: the same count unpaced with the writer subscribed, ÷ with no
  subscriber at all (trials alternating, the fastest of each kept: the machine is shared);
- **the stock peer**: bluesky-tiled-plugins' `TiledWriter` with ``batch_size=1`` (one request
  per event) off the RunEngine's thread in `acq.runtime.streaming.BackgroundWriter`, as the
  station streamed before: throughput, unpaced latency and RunEngine cost, fewer events (it
  takes ≈30 ms per event).

The reader counts the errors it meets (HTTP 500 "database is locked" before the server's
SQLite databases were in WAL mode). Times are wall-clock on a shared machine: the load average
and this process's CPU time are printed with them.

    .venv/bin/python benchmarks/tiled_streaming.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bluesky.plans as bp
import numpy as np
from bluesky import RunEngine
from bluesky_tiled_plugins import TiledWriter
from ophyd.sim import SynSignal
from tiled.client.container import Container

from acq.runtime.streaming import BackgroundWriter, TiledBackgroundWriter
from acq.runtime.tiled_client import connect
from acq.services import EmbeddedTiled
from benchmarks.figures import Figure

#: Issue 13's goals.
GOAL_EVENTS_PER_S = 500.0
GOAL_LATENCY_P95_S = 1.0
GOAL_RUN_ENGINE_RATIO = 1.1
#: Cost per event at the longer run ÷ at the shorter: linear (no goal in the issue).
GOAL_GROWTH_RATIO = 1.2


@dataclass(frozen=True)
class Sizes:
    """Events of each measurement."""

    throughput_events: tuple[int, int]  # a run, and a run 4× longer
    paced: tuple[tuple[float, float], ...]  # (events/s, seconds) of each paced run
    unpaced_events: int
    engine_events: int  # per trial of the RunEngine's cost
    engine_trials: int
    peer_events: int  # the stock batch-1 writer's run


QUICK = Sizes((500, 2000), ((20.0, 2.0), (200.0, 2.0)), 2000, 400, 5, 50)
FULL = Sizes((5000, 20000), ((10.0, 5.0), (100.0, 5.0), (500.0, 5.0)), 20000, 2000, 7, 300)

Writer = Callable[[str, dict], object]


def detector() -> SynSignal:
    """A signal read as fast as the RunEngine asks (no exposure)."""
    return SynSignal(func=lambda: 1.0, name="det")


def run_documents(events: int) -> list[tuple[str, dict]]:
    """The documents of one unpaced count of ``events`` events."""
    documents: list[tuple[str, dict]] = []
    RE = RunEngine({})
    RE.subscribe(lambda name, doc: documents.append((name, doc)))
    RE(bp.count([detector()], num=events))
    return documents


def stock_writer(raw: Container) -> BackgroundWriter:
    """The peer: TiledWriter, one request per event, on a thread of its own."""
    return BackgroundWriter(TiledWriter(raw, batch_size=1))


def station_writer(raw: Container, backup_dir: Path) -> TiledBackgroundWriter:
    """The station's writer (`acq.runtime.make_run_engine` subscribes it)."""
    return TiledBackgroundWriter(raw, backup_dir)


def throughput_events_per_s(writer: BackgroundWriter, documents: list[tuple[str, dict]]) -> float:
    """Events per second from handing ``documents`` to ``writer`` until all are written."""
    events = sum(name == "event" for name, _ in documents)
    started = time.perf_counter()
    for name, doc in documents:
        writer(name, doc)
    writer.flush()
    return events / (time.perf_counter() - started)


@dataclass
class PollingReader:
    """A thread reading the ``seq_num`` column of a run's ``primary`` table over and over,
    noting when each event was first read (``time.time()``, the clock of event times)."""

    raw: Container
    uid: list[str] = field(default_factory=list)  # the run's uid, once its start is out
    seen_s: dict[int, float] = field(default_factory=dict)  # seq_num: first read at
    errors: list[str] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, name="polling-reader")
        self._thread.start()

    def note_start(self, name: str, doc: dict) -> None:
        """A ``start`` callback for the RunEngine: the run to read."""
        self.uid.append(doc["uid"])

    def _poll(self) -> None:
        table = None  # the table's client, once there: each read is one request
        while not self.stopped.is_set():
            try:
                if table is None:
                    table = self.raw[self.uid[0]]["primary"].base["internal"]
                seq_nums = table.read(["seq_num"])["seq_num"]
            except (IndexError, KeyError):  # no run yet, or its table not written yet
                time.sleep(0.01)
                continue
            except Exception as error:  # HTTP 500 ("database is locked") or any other
                self.errors.append(repr(error)[:200])
                continue
            read_s = time.time()
            for seq_num in seq_nums:
                self.seen_s.setdefault(int(seq_num), read_s)

    def wait_for(self, events: int, timeout_s: float) -> bool:
        """Wait until the reader has seen ``events`` events; False on timeout."""
        deadline = time.perf_counter() + timeout_s
        while len(self.seen_s) < events and time.perf_counter() < deadline:
            time.sleep(0.01)
        return len(self.seen_s) >= events

    def stop(self) -> None:
        self.stopped.set()
        self._thread.join(60)


@dataclass(frozen=True)
class Latency:
    """Emit→readable latency of one run, the rate it was emitted at, and how long the
    RunEngine and the writer took."""

    events: int
    emitted_s: float  # the RunEngine's run
    written_s: float  # from the run's start until every document is written
    p50_s: float
    p95_s: float
    lost: int
    errors: int

    def text(self) -> str:
        return (
            f"{self.events} events at {self.events / self.emitted_s:.0f}/s: p50 "
            f"{self.p50_s:.3f} s, p95 {self.p95_s:.3f} s; {self.lost} unread, "
            f"{self.errors} reader errors"
        )


def latency(
    raw: Container, writer: BackgroundWriter, events: int, delay_s: float | None, timeout_s: float
) -> Latency:
    """Count ``events`` events ``delay_s`` apart (unpaced: None) into ``writer`` with a
    polling reader on the run."""
    reader = PollingReader(raw)
    times: list[float] = []
    RE = RunEngine({})
    RE.subscribe(reader.note_start, "start")
    RE.subscribe(lambda name, doc: times.append(doc["time"]), "event")
    RE.subscribe(writer)
    reader.start()
    try:
        began = time.perf_counter()
        RE(bp.count([detector()], num=events, delay=delay_s))
        emitted_s = time.perf_counter() - began
        writer.flush(timeout_s)
        written_s = time.perf_counter() - began
        reader.wait_for(events, timeout_s)
    finally:
        reader.stop()
    latencies = [reader.seen_s[i + 1] - t for i, t in enumerate(times) if i + 1 in reader.seen_s]
    p50, p95 = np.percentile(latencies, [50, 95]) if latencies else (np.nan, np.nan)
    return Latency(
        events,
        emitted_s,
        written_s,
        float(p50),
        float(p95),
        events - len(latencies),
        len(reader.errors),
    )


def engine_seconds_per_event(subscriber: Writer | None, events: int) -> float:
    """Wall seconds per event of an unpaced count, with ``subscriber`` (or none)."""
    RE = RunEngine({})
    if subscriber is not None:
        RE.subscribe(subscriber)
    began = time.perf_counter()
    RE(bp.count([detector()], num=events))
    return (time.perf_counter() - began) / events


@dataclass(frozen=True)
class EngineCost:
    """The RunEngine's fastest wall time per event with the writer and with no subscriber
    (trials alternating), and this process's CPU time per event with each (the writer's
    drain after each trial included)."""

    streaming_s: float
    alone_s: float
    streaming_cpu_s: float
    alone_cpu_s: float

    @property
    def ratio(self) -> float:
        return self.streaming_s / self.alone_s

    @property
    def cpu_ratio(self) -> float:
        return self.streaming_cpu_s / self.alone_cpu_s


def engine_cost(writer: BackgroundWriter, events: int, trials: int) -> EngineCost:
    """The RunEngine's cost per event with ``writer`` and with no subscriber."""
    alone, streaming, alone_cpu, streaming_cpu = [], [], [], []
    for _ in range(trials):
        cpu_s = time.process_time()
        alone.append(engine_seconds_per_event(None, events))
        alone_cpu.append((time.process_time() - cpu_s) / events)
        cpu_s = time.process_time()
        streaming.append(engine_seconds_per_event(writer, events))
        writer.flush()
        streaming_cpu.append((time.process_time() - cpu_s) / events)
    return EngineCost(min(streaming), min(alone), min(streaming_cpu), min(alone_cpu))


def load_average() -> str:
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


def measure(sizes: Sizes) -> list[Figure]:
    """Every figure, against one embedded Tiled server."""
    figures = []
    cpu_started_s = time.process_time()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedTiled(Path(tmp), []) as server:
        raw = connect(server.uri, server.api_key)["raw"]
        backup_dir = Path(tmp) / "backup"

        # The peer first, on a quiet server: one unpaced run, a polling reader on it.
        peer_alone_s = engine_seconds_per_event(None, sizes.peer_events)
        peer = latency(raw, stock_writer(raw), sizes.peer_events, None, timeout_s=300)
        peer_per_s = peer.events / peer.written_s
        peer_ratio = peer.emitted_s / peer.events / peer_alone_s

        short, long = sizes.throughput_events
        # A first run warms the server and the client (connections, the first table's schema).
        throughput_events_per_s(station_writer(raw, backup_dir), run_documents(10))
        per_s = {
            n: throughput_events_per_s(station_writer(raw, backup_dir), run_documents(n))
            for n in (short, long)
        }
        figures.append(
            Figure(
                "events into Tiled per station",
                per_s[long],
                "events/s",
                GOAL_EVENTS_PER_S,
                "higher",
                anchor=f"stock TiledWriter batch 1: {peer_per_s:.0f} events/s "
                f"({sizes.peer_events} events)",
                detail=f"{long} events handed over at once, until all written; "
                f"{per_s[long] / peer_per_s:.0f}× the stock writer",
            )
        )
        figures.append(
            Figure(
                f"cost per event written, {long} ÷ {short} events",
                per_s[short] / per_s[long],
                "×",
                GOAL_GROWTH_RATIO,
                "lower",
                anchor=f"{short} events: {per_s[short]:.0f} events/s",
                detail=f"{long}: {per_s[long]:.0f} events/s",
            )
        )

        writer = station_writer(raw, backup_dir)
        runs = [
            (f"paced {rate:g} events/s", round(rate * seconds), 1 / rate)
            for rate, seconds in sizes.paced
        ]
        runs.append(("unpaced", sizes.unpaced_events, None))
        for label, events, delay_s in runs:
            measured = latency(raw, writer, events, delay_s, timeout_s=120)
            figures.append(
                Figure(
                    f"emit→readable p95, {label}",
                    measured.p95_s,
                    "s",
                    GOAL_LATENCY_P95_S,
                    "lower",
                    anchor="event time → first polling read holding it",
                    detail=measured.text(),
                )
            )
        figures.append(
            Figure(
                "emit→readable p95, unpaced, stock TiledWriter batch 1 (peer)",
                peer.p95_s,
                "s",
                GOAL_LATENCY_P95_S,
                "lower",
                anchor="event time → first polling read holding it",
                detail=peer.text(),
            )
        )

        cost = engine_cost(writer, sizes.engine_events, sizes.engine_trials)
        figures.append(
            Figure(
                "RunEngine per event, streaming ÷ no subscriber",
                cost.ratio,
                "×",
                GOAL_RUN_ENGINE_RATIO,
                "lower",
                anchor=f"no subscriber {cost.alone_s * 1e3:.3f} ms/event, same run",
                detail=f"{cost.streaming_s * 1e3:.3f} ms/event, fastest of "
                f"{sizes.engine_trials} × {sizes.engine_events} events; CPU per event "
                f"{cost.cpu_ratio:.2f}× ({cost.streaming_cpu_s * 1e3:.3f} vs "
                f"{cost.alone_cpu_s * 1e3:.3f} ms, the writer's drain included); stock batch "
                f"1: {peer_ratio:.2f}× ({peer.emitted_s / peer.events * 1e3:.3f} vs "
                f"{peer_alone_s * 1e3:.3f} ms, {sizes.peer_events} events, one trial)",
            )
        )
    print(
        f"CPU time of this process {time.process_time() - cpu_started_s:.1f} s; "
        f"load average {load_average()}"
    )
    return figures


def figures(quick: bool) -> list[Figure]:
    """The figures of ``python -m benchmarks``."""
    return measure(QUICK if quick else FULL)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer events (under a minute)")
    args = parser.parse_args()
    print(f"load average {load_average()}")
    began = time.perf_counter()
    for figure in figures(args.quick):
        print(
            f"{figure.name}: {figure.value:.3g} {figure.unit} (goal {figure.goal_text}, "
            f"{'met' if figure.met else 'NOT met'}); {figure.anchor}; {figure.detail}"
        )
    print(f"{time.perf_counter() - began:.0f} s; load average {load_average()}")


if __name__ == "__main__":
    main()
