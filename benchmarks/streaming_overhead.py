"""Cost of streaming to Tiled on the acquisition path.

A step scan of ``--points`` events with a ``--exposure-s`` detector (ophyd's simulated
detector, which sleeps for its exposure) is run three ways against an embedded Tiled server:
no subscriber, the stock TiledWriter (batch size 1) called in the RunEngine's callback, and
`acq.runtime.BackgroundWriter` around the same writer. Printed: wall time per scan as a
ratio to the exposure floor (points × exposure), and how long after the scan the last event
reached Tiled.

    .venv/bin/python benchmarks/streaming_overhead.py [--points 361] [--exposure-s 0.05]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bluesky.plans as bp
from bluesky import RunEngine
from bluesky_tiled_plugins import TiledWriter
from ophyd.sim import SynSignal

from acq.runtime.streaming import BackgroundWriter
from acq.runtime.tiled_client import connect
from acq.services import EmbeddedTiled


def scan_seconds(RE: RunEngine, detector: SynSignal, points: int) -> tuple[float, str]:
    started = time.perf_counter()
    (uid,) = RE(bp.count([detector], num=points))
    return time.perf_counter() - started, uid


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=361)
    parser.add_argument("--exposure-s", type=float, default=0.05)
    args = parser.parse_args()
    floor = args.points * args.exposure_s
    detector = SynSignal(func=lambda: 1.0, name="det", exposure_time=args.exposure_s)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedTiled(Path(tmp), []) as server:
        raw = connect(server.uri, server.api_key)["raw"]
        results = []
        RE = RunEngine({})
        results.append(("no subscriber", *scan_seconds(RE, detector, args.points), 0.0))

        RE = RunEngine({})
        RE.subscribe(TiledWriter(raw, batch_size=1))
        elapsed, uid = scan_seconds(RE, detector, args.points)
        results.append(("TiledWriter in the RE callback", elapsed, uid, 0.0))

        RE = RunEngine({})
        writer = BackgroundWriter(TiledWriter(raw, batch_size=1))
        RE.subscribe(writer)
        elapsed, uid = scan_seconds(RE, detector, args.points)
        drained = time.perf_counter()
        writer.flush()
        results.append(("BackgroundWriter (acq)", elapsed, uid, time.perf_counter() - drained))

        print(f"{args.points} points × {args.exposure_s} s exposure: floor {floor:.2f} s")
        print(f"{'subscriber':32} {'scan/s':>8} {'÷ floor':>8} {'tail/s':>8} {'events':>7}")
        for label, seconds, uid, tail in results:
            events = len(raw[uid]["primary"]["det"].read()) if label != "no subscriber" else "—"
            print(f"{label:32} {seconds:8.2f} {seconds / floor:8.2f} {tail:8.2f} {events!s:>7}")


if __name__ == "__main__":
    main()
