"""Scan ids count up per station across processes (`acq.runtime.scan_ids`)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import bluesky.plans as bp
from bluesky import RunEngine
from ophyd.sim import det

from acq.runtime.scan_ids import StationScanIds


def _take(path: Path, count: int, ids) -> None:
    source = StationScanIds(path)
    for _ in range(count):
        ids.put(source({}))


def test_processes_taking_ids_at_once_get_distinct_consecutive_ones(tmp_path):
    path = tmp_path / "scan_id"
    context = multiprocessing.get_context("spawn")
    ids = context.Queue()
    workers = [context.Process(target=_take, args=(path, 25, ids)) for _ in range(4)]
    for worker in workers:
        worker.start()
    taken = sorted(ids.get(timeout=60) for _ in range(100))
    for worker in workers:
        worker.join(60)
    assert taken == list(range(1, 101))
    assert path.read_text().strip() == "100"


def test_run_engines_of_one_station_continue_each_others_count(tmp_path):
    first, second = (
        RunEngine({}, scan_id_source=StationScanIds(tmp_path / "scan_id")) for _ in range(2)
    )
    starts: list[dict] = []
    for RE in (first, second):
        RE.subscribe(lambda name, doc: starts.append(doc), "start")
    for RE in (first, second, first):
        RE(bp.count([det]))
    assert [doc["scan_id"] for doc in starts] == [1, 2, 3]


def test_a_scan_id_set_by_the_user_is_continued_from(tmp_path):
    source = StationScanIds(tmp_path / "scan_id")
    assert source({}) == 1
    assert source({"scan_id": 1000}) == 1001
    assert source({}) == 1002
