"""A station command's children are tethered to it (`acq.tethered`): a ``python -m`` module
in the tether's own process, a program of its own (``redis-server``) as the tether's child;
they run as they would alone, and end once the command has gone, however it went."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from acq.services.child import process_label
from acq.tethered import tethered_command

#: Wall seconds a tethered child gets to end once its parent is killed.
END_TIMEOUT_S = 5.0


def test_a_tethered_module_runs_with_its_arguments_and_exit_status():
    command = tethered_command([sys.executable, "-m", "timeit", "-n", "1", "pass"], 1)
    assert command[1:4] == ["-m", "acq.tethered", "1"]
    ran = subprocess.run(
        tethered_command([sys.executable, "-m", "timeit", "-n", "1", "pass"], os.getpid()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0 and "1 loop" in ran.stdout, ran.stderr
    failed = subprocess.run(
        tethered_command([sys.executable, "-m", "json.tool", "/no/such/file"], os.getpid()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode != 0 and "No such file" in failed.stderr


def test_a_tethered_program_runs_as_a_child_with_its_exit_status_and_signals():
    command = tethered_command(["sh", "-c", "exit 3"], os.getpid())
    assert command[:5] == [sys.executable, "-m", "acq.tethered", str(os.getpid()), "--exec"]
    assert subprocess.run(command, timeout=60).returncode == 3
    sleeping = subprocess.Popen(tethered_command(["sleep", "600"], os.getpid()))
    try:
        deadline = time.monotonic() + 30
        while not psutil.Process(sleeping.pid).children():
            assert time.monotonic() < deadline, "the tether did not start its program"
            time.sleep(0.05)
        sleeping.terminate()  # passed on: the program ends by it, and so does the tether
        assert sleeping.wait(30) == 128 + signal.SIGTERM
    finally:
        sleeping.kill()


def test_messages_name_the_module_or_program_not_the_tether():
    process = subprocess.Popen(
        tethered_command([sys.executable, "-m", "timeit", "-n", "1", "pass"], os.getpid()),
        stdout=subprocess.DEVNULL,
    )
    process.wait(60)
    assert process_label(process) == f"timeit (pid {process.pid})"
    program = subprocess.Popen(tethered_command(["/bin/true"], os.getpid()))
    program.wait(60)
    assert process_label(program) == f"true (pid {program.pid})"


@pytest.mark.parametrize(
    "serve",
    [
        "[sys.executable, '-m', 'http.server', '0', '--bind', '127.0.0.1']",
        "['sleep', '600']",  # a program of its own, as redis-server: the tether's child
    ],
    ids=["module", "program"],
)
def test_a_tethered_child_ends_once_its_parent_is_killed(tmp_path, serve):
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys, time\n"
            "from acq.tethered import tethered_command\n"
            f"serve = {serve}\n"
            "child = subprocess.Popen(tethered_command(serve, os.getpid()))\n"
            f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the parent never started its child"
            time.sleep(0.05)
        tether = psutil.Process(int(pid_file.read_text()))
        time.sleep(1.0)  # the child's tether is watching
        assert tether.is_running() and tether.ppid() == parent.pid
        children = [tether, *tether.children()]  # a program: the tether and its child
    finally:
        parent.kill()  # SIGKILL: the parent can stop nothing
        parent.wait(10)
    _, alive = psutil.wait_procs(children, timeout=END_TIMEOUT_S)
    for child in alive:
        child.kill()
    assert not alive, f"{alive} outlived their killed parent by {END_TIMEOUT_S} s"
