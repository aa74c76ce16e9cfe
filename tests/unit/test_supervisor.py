"""The supervisor of a command's services, over a service of one real process: a process that
exits is restarted and reported in one line; one that keeps exiting, or one that must not be
restarted, is given up on, which ends serving with the supervisor's error."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from acq.services.child import (
    ChildService,
    ServiceError,
    process_label,
    serve_until_interrupted,
)
from acq.services.supervisor import Supervisor


class Sleeper(ChildService):
    """A service of one process that sleeps until it is stopped."""

    restart_note = "nothing is lost"

    def start(self) -> None:
        self.launch([sys.executable, "-c", "import time; time.sleep(600)"])
        self.wait_until(lambda: True)


def _kill_and_wait_for_restart(service: Sleeper, lines: list[str], timeout_s: float = 60) -> int:
    (process,) = service.processes
    process.kill()
    deadline = time.monotonic() + timeout_s
    while not any(f"pid {process.pid}" in line for line in lines):
        assert time.monotonic() < deadline, f"pid {process.pid} not reported: {lines}"
        time.sleep(0.05)
    return process.pid


def test_a_process_that_exits_is_restarted_and_reported(tmp_path):
    lines: list[str] = []
    with Sleeper("sleeper", tmp_path / "sleeper.log") as service:
        with Supervisor([service], poll_interval_s=0.05, report=lines.append):
            killed = _kill_and_wait_for_restart(service, lines)
        (line,) = lines
        (process,) = service.processes
        assert process.pid != killed and process.poll() is None
    assert line.startswith("acq: sleeper: ")
    assert f"(pid {killed}) exited with status -9 (SIGKILL); restarted (1 of 3" in line
    assert "nothing is lost" in line and str(tmp_path / "sleeper.log") in line
    assert "restarted by its supervisor" in (tmp_path / "sleeper.log").read_text()


def test_one_that_keeps_exiting_is_given_up_on_and_serving_ends(tmp_path):
    lines: list[str] = []
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    with Sleeper("sleeper", tmp_path / "sleeper.log") as service:
        supervisor = Supervisor(
            [service], max_restarts=2, poll_interval_s=0.05, report=lines.append
        )
        with supervisor:
            for _ in range(2):
                _kill_and_wait_for_restart(service, lines)
            (last,) = service.processes
            last.kill()
            try:
                with pytest.raises(ServiceError, match=r"after 2 restarts .* given up"):
                    serve_until_interrupted()  # returns at once if the supervisor gave up
            finally:
                for number, handler in handlers.items():
                    signal.signal(number, handler)
        assert len(lines) == 2
        assert f"pid {last.pid}" in str(supervisor.failure)


def test_a_block_that_does_not_serve_gets_the_error_when_it_ends(tmp_path):
    with Sleeper("sleeper", tmp_path / "sleeper.log") as service:
        supervisor = Supervisor([service], max_restarts=0, poll_interval_s=0.05)
        with pytest.raises(ServiceError, match="given up"), supervisor:
            (process,) = service.processes
            process.kill()
            deadline = time.monotonic() + 60
            while supervisor.failure is None:
                assert time.monotonic() < deadline
                time.sleep(0.05)


class Unrestartable(Sleeper):
    """A service whose restart would do harm."""

    no_restart_reason = "a restart would start a second one"


def test_a_service_that_must_not_be_restarted_stops_serving_the_first_time_it_exits(tmp_path):
    lines: list[str] = []
    with Unrestartable("unrestartable", tmp_path / "unrestartable.log") as service:
        supervisor = Supervisor([service], poll_interval_s=0.05, report=lines.append)
        with pytest.raises(ServiceError) as given_up, supervisor:
            (process,) = service.processes
            process.kill()
            deadline = time.monotonic() + 60
            while supervisor.failure is None:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert service.processes == [process]  # not started again
    assert lines == []
    assert str(given_up.value) == (
        f"unrestartable: {process_label(process)} exited with status -9 "
        f"(SIGKILL): not restarted (a restart would start a second one), the station stops "
        f"(log {tmp_path / 'unrestartable.log'})"
    )
