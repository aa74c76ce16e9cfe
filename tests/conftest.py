"""What every tier shares: Channel Access kept to this run, the tiers' markers, and a small
station config.

Two tiers (README, "Tests"): ``tests/unit`` needs no IOC, server or Redis (ophyd's fake
devices, bluesky's RunEngineSimulator, documents, arrays); ``tests/system`` talks to real
simulated IOCs over Channel Access, to a real Tiled server and to Redis. Each test is marked
by its tier (``unit`` / ``system``), so either runs alone: ``pytest -m unit``.

`tests.stations.small_station_config` is the station the tiers test.

Channel Access is pointed at loopback on a free port of this run's own *before* anything
imports pyepics (ophyd starts Channel Access as it is imported), so a test run neither
answers nor hears a station serving beside it. A process the tests start inherits that
environment — which is why the README's commands are tested in a clean one instead
(`tests/system/test_readme.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO

import pytest

from acq.runtime.channel_access import configure_channel_access
from acq.services.ports import free_channel_access_port

_port = free_channel_access_port()
configure_channel_access(_port, _port + 1)

from bluesky import RunEngine  # noqa: E402
from bluesky.utils import TransitionError  # noqa: E402

TESTS = Path(__file__).parent


#: Test files that run alone on a pytest-xdist worker of their own (`make test` runs two):
#: they serve the default station's ports and take minutes.
ALONE = ("test_readme.py",)
#: System test files that serve a whole station of their own on this session's Channel Access
#: ports: beside the session's station (same ports) their clients would not find their IOCs,
#: so they run on the README's worker, which never starts the session's station.
BESIDE_THE_README = ("test_acq_queue_signals.py",)
#: System test files that need no session fixture: each serves stations (or a Tiled and a
#: broker) of its own (own prefix, Channel Access, Tiled and 0MQ ports), so they run as a
#: group of their own on whichever worker is free first, after the README's and beside the
#: session's station.
SERVED_ALONE = (
    "test_shipped_cells.py",
    "test_many_stations.py",
    "test_broker.py",
)


#: Environment variable naming the folder where each pytest-xdist worker's fatal errors go.
FAULT_LOGS = "ACQ_TEST_FAULT_LOGS"
_fault_log: IO[str] | None = None


@pytest.hookimpl(trylast=True)  # after pytest's faulthandler plugin, which writes to stderr
def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker writes a fatal error's tracebacks (every thread's) to a
    file of its own, which the controller prints when the worker goes down
    (`pytest_testnodedown`): xdist itself reports only "node down: Not properly terminated"."""
    global _fault_log
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        if getattr(config.option, "numprocesses", None):
            os.environ[FAULT_LOGS] = tempfile.mkdtemp(prefix="acq-test-faults-")
        return
    folder = os.environ.get(FAULT_LOGS)
    if folder:
        _fault_log = open(Path(folder) / f"{worker}.log", "w")  # noqa: SIM115 (process-long)
        faulthandler.enable(_fault_log, all_threads=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller removes the workers' fault logs (a crash's was printed already)."""
    folder = os.environ.get(FAULT_LOGS)
    if folder and os.environ.get("PYTEST_XDIST_WORKER") is None:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """Print what a crashed worker's faulthandler wrote (see `pytest_configure`)."""
    folder = os.environ.get(FAULT_LOGS)
    if not error or not folder:
        return
    log = Path(folder) / f"{node.gateway.id}.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    reporter = node.config.pluginmanager.getplugin("terminalreporter")
    reporter.write_line(f"[{node.gateway.id}] fatal error log ({log}):")
    reporter.write_line(text or "(empty: the worker died without a Python fatal error)")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier, from the folder it is in, and with the pytest-xdist
    group it runs in: the system tier shares one simulated station and Tiled server
    (session fixtures, which each xdist worker would otherwise start again), the README's
    walk-through runs on its own, and a unit module runs whole on one worker (its cached
    scans and fits computed once), on whichever is free."""
    for item in items:
        path = Path(item.fspath).relative_to(TESTS)
        tier = path.parts[0]
        if tier in ("unit", "system"):
            item.add_marker(getattr(pytest.mark, tier))
        if path.name in ALONE:
            group = path.stem
        elif path.name in BESIDE_THE_README:
            group = Path(ALONE[0]).stem
        elif path.name in SERVED_ALONE:
            group = path.stem
        elif tier == "system":
            group = "station"
        else:
            group = path.as_posix()
        item.add_marker(pytest.mark.xdist_group(group))
    # The longest groups first, so that no worker starts one when the other is nearly done.
    items.sort(key=lambda item: _start_order(Path(item.fspath).relative_to(TESTS)))


def _start_order(path: Path) -> int:
    if path.name in ALONE or path.name in BESIDE_THE_README:
        return 0
    if path.name in SERVED_ALONE:
        return 2
    return 1 if path.parts[0] == "system" else 3


@pytest.fixture
def RE():
    """A RunEngine of the test's own, collecting its documents in ``RE.documents``; its
    thread joined and its event loop closed after the test (as bluesky's own tests do)."""
    loop = asyncio.new_event_loop()
    engine = RunEngine({}, call_returns_result=True, loop=loop)
    engine.documents = []
    engine.subscribe(lambda name, doc: engine.documents.append((name, doc)))
    yield engine
    if engine.state not in ("idle", "panicked"):
        with contextlib.suppress(TransitionError):
            engine.halt()
    loop.call_soon_threadsafe(loop.stop)
    engine._th.join()
    loop.close()
