"""A client that stops reading (``Ctrl-Z`` on an IPython session, a process held in a
debugger) must not stop the monitors of every other client of the IOC
(`simulated_devices.secured_server.UpdateBacklog`): its backlog is dropped, theirs flows.

Served by `tests.system.flooding_ioc` with caproto's total backlog per circuit lowered, so a
stopped client's backlog fills within seconds (6 MB/s of ``Image``): with caproto's own queue
the server then waited on that one client and ``Counter`` went silent for everyone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from caproto.sync.client import read
from caproto.threading.client import Context

from acq.services.ports import free_channel_access_port

REPOSITORY = Path(__file__).parents[2]
PREFIX = "FLOOD:"
#: Updates a circuit may have queued before its backlog is dropped (caproto's default 10 000).
BACKLOG = 200
#: caproto's warning as it drops a circuit's backlog.
DROPPED = "Critically high EventAddResponse load"
#: Wall seconds to wait for the stopped client's backlog to be dropped; for updates to count.
OVERFLOW_S = 30.0
COUNT_S = 2.0

#: The stopped client: pyepics, as ophyd and an IPython session use it, monitoring ``Image``.
STOPPED_CLIENT = f"""
import sys, time, epics
image = epics.PV("{PREFIX}Image", auto_monitor=True)
assert image.wait_for_connection(10), "Image did not connect"
print("monitoring", flush=True)
time.sleep(3600)
"""


@pytest.fixture
def flooding_ioc(tmp_path, monkeypatch):
    """`tests.system.flooding_ioc` on a Channel Access port of its own, which this test's
    clients (and the processes it starts) search; yields the IOC's log file."""
    port = free_channel_access_port()
    monkeypatch.setenv("EPICS_CA_SERVER_PORT", str(port))
    log = tmp_path / "ioc.log"
    env = {**os.environ, "CAPROTO_MAX_TOTAL_SUBSCRIPTION_BACKLOG": str(BACKLOG)}
    with log.open("w") as output:
        ioc = subprocess.Popen(
            [sys.executable, "-m", "tests.system.flooding_ioc", PREFIX],
            cwd=REPOSITORY,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                read(PREFIX + "Counter", timeout=1, repeater=False)
                break
            except TimeoutError:
                assert ioc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the flooding IOC did not serve"
        yield log
    finally:
        ioc.terminate()
        ioc.wait(timeout=10)


def _count(pv, seconds: float) -> int:
    """Monitor updates of ``pv`` that arrive in ``seconds``."""
    arrived = threading.Semaphore(0)
    subscription = pv.subscribe(data_type="time")
    updates = 0

    def counted(sub, response):
        arrived.release()

    subscription.add_callback(counted)
    try:
        time.sleep(seconds)
    finally:
        subscription.clear()
    while arrived.acquire(blocking=False):
        updates += 1
    return updates


def test_a_stopped_client_does_not_silence_the_others(flooding_ioc):
    stopped = subprocess.Popen(
        [sys.executable, "-c", STOPPED_CLIENT],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    context = Context()
    try:
        assert stopped.stdout is not None
        assert stopped.stdout.readline().strip() == "monitoring"
        (counter,) = context.get_pvs(PREFIX + "Counter", timeout=10)
        counter.wait_for_connection(timeout=10)
        assert _count(counter, COUNT_S) > 0
        os.kill(stopped.pid, signal.SIGSTOP)
        deadline = time.monotonic() + OVERFLOW_S
        while DROPPED not in flooding_ioc.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # well past the moment its backlog filled, however long that took
        updates = _count(counter, COUNT_S)
        assert updates >= COUNT_S / 0.1 / 2, (
            f"Counter: {updates} updates in {COUNT_S} s while another client is stopped "
            f"(expected ≈{COUNT_S / 0.1:.0f})"
        )
        assert DROPPED in flooding_ioc.read_text()  # the stopped client's backlog, dropped
    finally:
        context.disconnect()
        os.kill(stopped.pid, signal.SIGKILL)
        stopped.wait(timeout=10)
