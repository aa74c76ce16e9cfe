"""The README, run as a newcomer runs it.

Every fenced command and snippet of ``README.md`` is run in the order it stands, each in a
subprocess whose environment holds only ``PATH`` and ``HOME`` — none of the Channel Access
variables this suite's conftest exports — from a directory laid out like the repository root
(its files linked, a fresh ``data/``), on the default station's own ports, as typed in a new
terminal:

- a ``sh`` block runs line by line in one shell; a line that serves (``acq serve``, ``acq
  queue``) is started in the background and kept up, as in a terminal of its own, until the
  next one starts or the README ends, then stopped with Ctrl-C (SIGINT); a line whose comment
  says ``(exit status N)`` must exit with N, every other with 0;
- a ``python`` block that opens with ``$ .venv/bin/acq ipython`` is an IPython session: its
  ``In [n]:`` lines run through ``acq ipython -- -c``; any other ``python`` block runs as a
  script with ``.venv/bin/python``.

Nothing any of them prints may hold a traceback or a Channel Access warning, and every served
process must end on Ctrl-C with the status the README gives it (`CTRL_C_STATUS`). `NOT_RUN`
names the few lines left to others, and why.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from acq.services.ports import tcp_port_free

# The whole README takes ≈3.5 min on 2 cores, more beside other load.
pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: README lines (by what they contain) this test does not run, and who does.
NOT_RUN = {
    "make demo": ".ci/run runs the demo itself, before the tests, and checks its output",
    "make test": "the suite this test is part of",
    "make bench": "the benchmarks, run by hand on a quiet machine (benchmarks/RESULTS.md)",
}
#: Lines that serve until Ctrl-C.
SERVING = re.compile(r"\bacq (serve|queue)\b")
#: What a served process prints once it is up.
SERVING_LINE = "Ctrl-C stops"
#: What no output may contain.
FORBIDDEN = ("Traceback", "unable to contact CA repeater", "CA.Client.Exception")
#: Ports the default station takes (Tiled, analysis 0MQ, Channel Access, queue server and its
#: Redis) and those of the second config the README serves.
PORTS = (8010, 5577, 5578, 5064, 60610, 60615, 60625, 60635, 8011, 5587, 5588)
#: Exit status of a served command stopped with Ctrl-C: `acq queue` says it was interrupted
#: (it aborts a running plan first), `acq serve` stopped as asked.
CTRL_C_STATUS = {"acq queue": 130, "acq serve": 0}
#: Wall seconds any one step may take.
STEP_TIMEOUT_S = 900


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language and its lines with their README line numbers."""

    language: str
    lines: tuple[tuple[int, str], ...]


def readme_blocks(text: str) -> list[Block]:
    """Every fenced code block of ``text``, in order."""
    blocks, language, lines = [], None, []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            if language is None:
                language, lines = line[3:].strip(), []
            else:
                blocks.append(Block(language, tuple(lines)))
                language = None
        elif language is not None:
            lines.append((number, line))
    return blocks


def _command(line: str) -> str:
    """A shell line without its trailing comment (a ``#`` after two spaces)."""
    return re.split(r"\s{2,}#", line, maxsplit=1)[0].strip()


def _expected_status(line: str) -> int:
    found = re.search(r"\(exit status (\d+)\)", line)
    return int(found.group(1)) if found else 0


def _not_run(line: str) -> str | None:
    return next((key for key in NOT_RUN if key in line), None)


class Service:
    """A serving command, started in the background as in a terminal of its own."""

    def __init__(self, command: str, number: int, cwd: Path, env: dict[str, str]) -> None:
        self.command, self.number = command, number
        self.output: list[str] = []
        self.process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 180
        while SERVING_LINE not in "".join(self.output):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(
                    f"README line {number}: `{command}` did not come up:\n{_excerpt(self.text())}"
                )
            time.sleep(0.2)

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def text(self) -> str:
        return "".join(self.output)

    def stop(self) -> int:
        """Ctrl-C, as a terminal sends it to its foreground process group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        time.sleep(0.5)  # the reader's last lines
        return self.process.returncode


def _excerpt(output: str, chars: int = 3000) -> str:
    """The start and the end of a long output (where a failure and its cause usually are)."""
    if len(output) <= 2 * chars:
        return output
    return f"{output[:chars]}\n[… {len(output) - 2 * chars} characters …]\n{output[-chars:]}"


def _assert_clean(where: str, output: str) -> None:
    for forbidden in FORBIDDEN:
        if forbidden in output:
            at = output.index(forbidden)
            pytest.fail(f"{where} printed {forbidden!r}:\n{_excerpt(output[max(at - 3000, 0) :])}")


@pytest.fixture
def newcomer(tmp_path):
    """A checkout-like directory (the repository's files linked, a fresh ``data/``) and the
    environment of a new terminal: PATH without this virtual environment, a HOME of its own."""
    venv = Path(sys.prefix)
    if not (venv / "bin" / "acq").exists():
        pytest.fail(f"{venv} has no `acq`: run the suite as the README does (make test)")
    busy = [port for port in PORTS if not tcp_port_free(port)]
    if busy:
        pytest.fail(
            f"the README's commands use the default station's ports; in use: {busy} "
            f"(is an `acq serve`, `acq queue` or demo running?)"
        )
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in {".venv", ".git", "data", "data-fine"}:
            (checkout / entry.name).symlink_to(entry)
    (checkout / ".venv").symlink_to(venv)
    home = tmp_path / "home"
    home.mkdir()
    path = os.pathsep.join(
        part for part in os.environ["PATH"].split(os.pathsep) if Path(part) != venv / "bin"
    )
    return checkout, {"PATH": path, "HOME": str(home)}


def _run(argv: list[str], where: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{where} exited {done.returncode}:\n{_excerpt(output)}"
    _assert_clean(where, output)


def _run_lines(pending: list[tuple[int, str]], cwd: Path, env: dict[str, str]) -> None:
    """Run the shell lines gathered so far, in one shell, and forget them."""
    if pending:
        _run(
            ["bash", "-c", _shell_script(pending)],
            f"the shell lines at README line {pending[0][0]}",
            cwd,
            env,
        )
        pending.clear()


def _shell_script(lines: list[tuple[int, str]]) -> str:
    """One shell script running ``lines`` in order, each checked for its exit status."""
    script = []
    for number, line in lines:
        command, expected = _command(line), _expected_status(line)
        script.append(
            f'{command}\nrc=$?\nif [ $rc -ne {expected} ]; then echo "README line '
            f'{number}: exit $rc, expected {expected}" >&2; exit 97; fi'
        )
    return "\n".join(script)


def test_every_readme_command_works_in_a_new_terminal(newcomer):
    checkout, env = newcomer
    python = str(checkout / ".venv" / "bin" / "python")
    service: Service | None = None
    left_out: set[str] = set()
    try:
        for block in readme_blocks(README.read_text()):
            lines = [
                (n, line)
                for n, line in block.lines
                if line.strip() and not line.lstrip().startswith("#")
            ]
            if not lines:
                continue
            first = block.lines[0][0]
            if (
                block.language == "python"
                and lines[0][1].startswith("$ ")
                and ("acq ipython" in lines[0][1])
            ):
                code = "\n".join(re.sub(r"^In \[\d+\]: ", "", line) for _, line in lines[1:])
                _run(
                    [str(checkout / ".venv" / "bin" / "acq"), "ipython", "--", "-c", code],
                    f"the IPython session at README line {first}",
                    checkout,
                    env,
                )
            elif block.language == "python":
                _run(
                    [python, "-c", "\n".join(line for _, line in block.lines)],
                    f"the Python snippet at README line {first}",
                    checkout,
                    env,
                )
            elif block.language == "sh":
                pending: list[tuple[int, str]] = []
                for number, line in lines:
                    if (skipped := _not_run(line)) is not None:
                        left_out.add(skipped)
                    elif SERVING.search(_command(line)):
                        _run_lines(pending, checkout, env)
                        if service is not None:
                            _stop(service)
                        service = Service(_command(line).rstrip("& "), number, checkout, env)
                    else:
                        pending.append((number, line))
                _run_lines(pending, checkout, env)
    except BaseException:
        if service is not None:
            service.stop()  # the failure at hand is the one to report
        raise
    if service is not None:
        _stop(service)
    assert left_out == set(NOT_RUN), (
        f"NOT_RUN names lines the README no longer has: {set(NOT_RUN) - left_out}"
    )


def _stop(service: Service) -> None:
    status = service.stop()
    where = f"README line {service.number} (`{service.command}`)"
    expected = next(code for verb, code in CTRL_C_STATUS.items() if verb in service.command)
    assert status == expected, (
        f"{where} ended with exit status {status} on Ctrl-C:\n{_excerpt(service.text())}"
    )
    _assert_clean(where, service.text())
