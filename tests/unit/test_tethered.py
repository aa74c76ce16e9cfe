"""A station command's ``python -m`` children are tethered to it (`acq.tethered`): they run
as they would alone, and end once the command has gone, however it went."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

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


def test_a_program_that_is_not_a_python_module_is_left_as_it_is():
    assert tethered_command(["redis-server", "--port", "0"], 1) == ["redis-server", "--port", "0"]


def test_messages_name_the_module_not_the_tether():
    process = subprocess.Popen(
        tethered_command([sys.executable, "-m", "timeit", "-n", "1", "pass"], os.getpid()),
        stdout=subprocess.DEVNULL,
    )
    process.wait(60)
    assert process_label(process) == f"timeit (pid {process.pid})"


def test_a_tethered_child_ends_once_its_parent_is_killed(tmp_path):
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys, time\n"
            "from acq.tethered import tethered_command\n"
            "serve = [sys.executable, '-m', 'http.server', '0', '--bind', '127.0.0.1']\n"
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
        child = psutil.Process(int(pid_file.read_text()))
        time.sleep(1.0)  # the child's tether is watching
        assert child.is_running() and child.ppid() == parent.pid
    finally:
        parent.kill()  # SIGKILL: the parent can stop nothing
        parent.wait(10)
    try:
        child.wait(END_TIMEOUT_S)
    except psutil.TimeoutExpired:
        child.kill()
        raise AssertionError(
            f"the child outlived its killed parent by {END_TIMEOUT_S} s"
        ) from None
