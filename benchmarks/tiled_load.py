"""Load on Tiled: K concurrent writers × M events and F array frames, into the PostgreSQL
deployment (`acq tiled serve`: Tiled servers behind HAProxy) and into the embedded SQLite
server, in one run.

Each writer is a process of its own, as a station is: it writes one run with the station's
TiledWriter settings (`acq.runtime.streaming`: batch size 1, arrays as zarr), M scalar
events and F 64 × 64 frames, each document as soon as the previous one was written (a closed
loop: what the server can take), while a reader thread of the same process polls the run's
event table through the same URL every `POLL_INTERVAL_S`. Measured for K = 1, 2, 4, 8
writers at once: throughput (documents written per wall second, all writers), the latency
from handing an event to the writer to its row being readable (median and p99, over every
event), and, read back at the end, events and frames lost or duplicated (rows missing or
repeated; must be 0).

Loopback only; a database of its own (``acq_bench_<hex>``, dropped at the end) and temporary
directories; every step is bounded (`STEP_TIMEOUT_S`) and the whole stops by itself.

    .venv/bin/python benchmarks/tiled_load.py [--quick] [--servers 4]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.figures import Figure

#: Writers at once.
WRITERS = (1, 2, 4, 8)
#: Events and frames per writer: full, quick.
SIZES = {False: (40, 4), True: (15, 2)}
#: Tiled servers of the deployment: full, quick.
SERVERS = {False: 4, True: 2}
FRAME_SHAPE = (64, 64)
#: Wall seconds one step (K writers) may take before its writers stop.
STEP_TIMEOUT_S = 240.0
#: Wall seconds between two polls of a reader (what a live display does; polling flat out
#: would double the servers' load).
POLL_INTERVAL_S = 0.05
#: Wall seconds a reader keeps polling after its writer's last event.
READ_TIMEOUT_S = 30.0
POSTGRESQL = "postgresql://postgres@127.0.0.1:5432"


@dataclass(frozen=True)
class WriterResult:
    """One writer's run: its uid, when each event was handed over and first read back
    (monotonic s, system-wide on Linux), frames written, when it started and ended, runs
    backed up."""

    uid: str
    emitted_s: list[float]
    frames: int
    readable_s: list[float | None]
    began_s: float
    ended_s: float
    backed_up: int


def _warm(_: int) -> None:
    """Import what a writer needs (once per pool process, before any step is timed)."""
    import bluesky_tiled_plugins  # noqa: F401

    import acq.runtime.tiled_client  # noqa: F401

    time.sleep(1.0)


def write_one_run(
    uri: str, api_key: str, events: int, frames: int, start_at_s: float, backup: str
) -> WriterResult:
    """A writer process's run (see the module's docstring), begun at ``start_at_s``; no
    event is emitted after `STEP_TIMEOUT_S` from then (the run is closed)."""
    from bluesky_tiled_plugins import TiledWriter
    from event_model import compose_run, sanitize_doc

    from acq.analysis.results import ALL_ARRAYS_AS_ZARR
    from acq.runtime.tiled_client import connect

    raw = connect(uri, api_key)["raw"]
    # The station's settings (acq/runtime/streaming.py `TiledBackgroundWriter`), called in
    # this thread: the next document goes once the previous one is written.
    writer = TiledWriter(
        raw, backup_directory=backup, batch_size=1, max_array_size=ALL_ARRAYS_AS_ZARR
    )
    reader = connect(uri, api_key)
    bundle = compose_run(metadata={"benchmark": "tiled_load"})
    uid = bundle.start_doc["uid"]
    emitted: list[float] = []
    readable: list[float | None] = [None] * events
    done = threading.Event()

    def read() -> None:
        seen = 0
        deadline = None
        while seen < events:
            if done.is_set():
                deadline = deadline or time.monotonic() + READ_TIMEOUT_S
                if time.monotonic() > deadline:
                    return
            try:
                rows = reader[f"raw/{uid}/primary/internal"].read(["seq_num"])["seq_num"]
            except Exception:  # not created yet, or a request lost under load: poll again
                time.sleep(0.01)
                continue
            now = time.monotonic()
            for seq_num in rows:
                if 1 <= seq_num <= events and readable[seq_num - 1] is None:
                    readable[seq_num - 1] = now
                    seen += 1
            time.sleep(POLL_INTERVAL_S)

    scalar = {"x": {"dtype": "number", "shape": [], "source": "benchmark"}}
    image = {
        "image": {
            "dtype": "array",
            "shape": list(FRAME_SHAPE),
            "dtype_numpy": "<u2",
            "source": "benchmark",
        }
    }
    while time.monotonic() < start_at_s:
        time.sleep(0.005)
    began = time.monotonic()
    writer("start", bundle.start_doc)
    primary = bundle.compose_descriptor(name="primary", data_keys=scalar)
    writer("descriptor", primary.descriptor_doc)
    camera = bundle.compose_descriptor(name="frames", data_keys=image)
    writer("descriptor", camera.descriptor_doc)
    polling = threading.Thread(target=read, daemon=True)
    polling.start()
    frame_every = max(events // max(frames, 1), 1)
    written_frames = 0
    for seq_num in range(1, events + 1):
        if time.monotonic() > start_at_s + STEP_TIMEOUT_S:
            break
        now = time.time()
        event = primary.compose_event(
            data={"x": float(seq_num)}, timestamps={"x": now}, seq_num=seq_num
        )
        emitted.append(time.monotonic())
        writer("event", sanitize_doc(event))
        if seq_num % frame_every == 0 and written_frames < frames:
            written_frames += 1
            pixels = np.full(FRAME_SHAPE, written_frames, dtype="<u2")
            frame = camera.compose_event(
                data={"image": pixels}, timestamps={"image": now}, seq_num=written_frames
            )
            writer("event", sanitize_doc(frame))
    writer("stop", bundle.compose_stop())
    ended = time.monotonic()
    done.set()
    polling.join(READ_TIMEOUT_S + 5)
    backed_up = sum(1 for _ in Path(backup).glob("*.jsonl"))
    return WriterResult(uid, emitted, written_frames, readable, began, ended, backed_up)


@dataclass(frozen=True)
class Step:
    """K writers at once on one server: what they wrote and what reads back."""

    writers: int
    documents: int
    wall_s: float
    #: CPU time of the server's processes (Tiled servers, HAProxy; not PostgreSQL's), s.
    server_cpu_s: float
    #: Requests the server answered with HTTP 500 (TiledWriter retries them).
    server_errors: int
    latencies_s: list[float]
    lost: int
    duplicated: int

    @property
    def throughput_per_s(self) -> float:
        """Documents (events and frames) written per wall second, all writers."""
        return self.documents / self.wall_s

    @property
    def server_cpu_ms_per_document(self) -> float:
        """The server's CPU time per document written, ms (what the load average hides)."""
        return 1e3 * self.server_cpu_s / self.documents

    def latency_ms(self, quantile: float) -> float:
        """The emit→readable latency at ``quantile`` (0.5: median), ms; NaN if none."""
        if not self.latencies_s:
            return float("nan")
        return 1e3 * float(np.quantile(self.latencies_s, quantile))


def run_step(
    pool: ProcessPoolExecutor,
    uri: str,
    api_key: str,
    writers: int,
    events: int,
    frames: int,
    scratch: Path,
    server_pids: list[int],
    server_logs: list[Path],
) -> Step:
    """``writers`` runs written at once into the server at ``uri`` (whose processes are
    ``server_pids``, logging to ``server_logs``), then read back."""
    from acq.runtime.tiled_client import connect

    cpu_before_s = _cpu_s(server_pids)
    errors_before = _errors(server_logs)
    start_at = time.monotonic() + 2.0  # every writer connected by then
    futures = []
    for index in range(writers):
        backup = scratch / f"backup-{secrets.token_hex(4)}-{index}"
        backup.mkdir(parents=True)
        futures.append(
            pool.submit(write_one_run, uri, api_key, events, frames, start_at, str(backup))
        )
    results = [future.result(timeout=STEP_TIMEOUT_S + READ_TIMEOUT_S + 60) for future in futures]
    server_cpu_s = _cpu_s(server_pids) - cpu_before_s
    server_errors = _errors(server_logs) - errors_before
    raw = connect(uri, api_key)["raw"]
    lost = duplicated = 0
    latencies = []
    for result in results:
        run = raw[result.uid]
        seq_nums = np.asarray(run["primary"]["seq_num"].read()).tolist()
        frame_seq = np.asarray(run["frames"]["seq_num"].read()).tolist()
        for got, expected in ((seq_nums, len(result.emitted_s)), (frame_seq, result.frames)):
            lost += expected - len(set(got) & set(range(1, expected + 1)))
            duplicated += len(got) - len(set(got))
        lost += result.backed_up  # a run (partly) in the backup did not reach Tiled whole
        latencies += [
            seen - emitted
            for emitted, seen in zip(result.emitted_s, result.readable_s, strict=False)
            if seen is not None
        ]
    wall = max(r.ended_s for r in results) - min(r.began_s for r in results)
    documents = sum(len(r.emitted_s) + r.frames for r in results)
    return Step(writers, documents, wall, server_cpu_s, server_errors, latencies, lost, duplicated)


def _errors(logs: list[Path]) -> int:
    """HTTP 500 answers in the servers' access logs so far."""
    return sum(log.read_text(errors="replace").count("500 Internal Server Error") for log in logs)


def _cpu_s(pids: list[int]) -> float:
    """User and system CPU time of processes ``pids`` and their children so far, s."""
    import psutil

    total = 0.0
    for pid in pids:
        process = psutil.Process(pid)
        for each in (process, *process.children(recursive=True)):
            times = each.cpu_times()
            total += times.user + times.system
    return total


def measure(quick: bool, servers: int | None = None) -> dict[str, list[Step]]:
    """Every step against each server, by server name."""
    from acq.config import load_config, parse_config
    from acq.services import EmbeddedTiled
    from acq.services.ports import free_tcp_port
    from acq.services.postgresql import drop_database
    from acq.services.tiled_deployment import TiledDeployment

    events, frames = SIZES[quick]
    servers = servers or SERVERS[quick]
    database = f"acq_bench_{secrets.token_hex(4)}"
    steps: dict[str, list[Step]] = {}
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tiled-load-")))
        raw = load_config().model_dump(mode="json")
        raw["station"]["data_dir"] = str(scratch / "deployment")
        raw["tiled"]["deployment"] = {
            "postgresql": POSTGRESQL,
            "database": database,
            "servers": servers,
            "port": free_tcp_port(),
        }
        deployment = TiledDeployment(parse_config(raw))
        stack.callback(drop_database, POSTGRESQL, database)  # after the servers stop
        services = deployment.start(stack)
        embedded = stack.enter_context(EmbeddedTiled(scratch / "embedded", [], free_tcp_port()))
        pool = stack.enter_context(
            ProcessPoolExecutor(max(WRITERS), mp_context=get_context("spawn"))
        )
        list(pool.map(_warm, range(max(WRITERS))))
        api_key = deployment.key_path.read_text().strip()
        engines = {
            f"PostgreSQL, {servers} servers behind HAProxy": (
                deployment.uri,
                api_key,
                [process.pid for service in services for process in service.processes],
                [server.log_path for server in deployment.servers],
            ),
            "embedded SQLite": (
                embedded.uri,
                embedded.api_key,
                [process.pid for process in embedded.processes],
                [embedded.log_path],
            ),
        }
        for name, (uri, key, pids, logs) in engines.items():
            steps[name] = []
            for writers in WRITERS:
                step = run_step(
                    pool, uri, key, writers, events, frames, scratch / "backups", pids, logs
                )
                steps[name].append(step)
                print(f"  {name}: {describe(step)}", flush=True)
    return steps


def describe(step: Step) -> str:
    """One step in a line."""
    return (
        f"K={step.writers}: {step.throughput_per_s:.1f} documents/s, emit→readable median "
        f"{step.latency_ms(0.5):.0f} ms, p99 {step.latency_ms(0.99):.0f} ms, "
        f"{step.lost} lost, {step.duplicated} duplicated; {step.server_errors} HTTP 500 "
        f"answers (retried); server CPU "
        f"{step.server_cpu_ms_per_document:.0f} ms per document"
    )


def figures(quick: bool) -> list[Figure]:
    """Lost and duplicated documents on each server, the deployment's throughput and p99
    latency at K = 8 against the embedded SQLite's, and its throughput's growth with K."""
    steps = measure(quick)
    (postgres, postgres_steps), (sqlite, sqlite_steps) = steps.items()
    events, frames = SIZES[quick]
    result = []
    for name, series in steps.items():
        result.append(
            Figure(
                f"Tiled load, {name}: documents lost or duplicated (K = 1, 2, 4, 8 × "
                f"{events} events + {frames} frames)",
                float(sum(step.lost + step.duplicated for step in series)),
                "documents",
                0.0,
                "lower",
                anchor="every row read back",
                detail="; ".join(
                    f"K={s.writers}: {s.lost} lost, {s.duplicated} dup., "
                    f"{s.server_errors} HTTP 500 retried"
                    for s in series
                ),
            )
        )
    top_pg, top_sqlite = postgres_steps[-1], sqlite_steps[-1]
    result.append(
        Figure(
            f"Tiled load, K = {top_pg.writers}: throughput, {postgres} ÷ {sqlite}",
            top_pg.throughput_per_s / top_sqlite.throughput_per_s,
            "×",
            1.0,
            "higher",
            anchor=f"{sqlite}, same writers, same run",
            detail=f"{top_pg.throughput_per_s:.1f} vs {top_sqlite.throughput_per_s:.1f} "
            "documents/s",
        )
    )
    result.append(
        Figure(
            f"Tiled load, K = {top_pg.writers}: emit→readable p99, {postgres} ÷ {sqlite}",
            top_pg.latency_ms(0.99) / top_sqlite.latency_ms(0.99),
            "×",
            1.0,
            "lower",
            anchor=f"{sqlite}, same writers, same run",
            detail=f"p99 {top_pg.latency_ms(0.99):.0f} vs {top_sqlite.latency_ms(0.99):.0f} "
            f"ms; median {top_pg.latency_ms(0.5):.0f} vs {top_sqlite.latency_ms(0.5):.0f} ms",
        )
    )
    first = postgres_steps[0]
    result.append(
        Figure(
            f"Tiled load, {postgres}: throughput at K = {top_pg.writers} ÷ K = 1",
            top_pg.throughput_per_s / first.throughput_per_s,
            "×",
            2.0,
            "higher",
            anchor="K = 1 on the same deployment",
            detail=", ".join(f"K={s.writers}: {s.throughput_per_s:.1f}/s" for s in postgres_steps),
        )
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer events and servers")
    parser.add_argument("--servers", type=int, default=None, help="the deployment's servers")
    args = parser.parse_args()
    began = time.perf_counter()
    steps = measure(args.quick, args.servers)
    for name, series in steps.items():
        print(name)
        for step in series:
            print(f"  {describe(step)}")
    print(f"{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
