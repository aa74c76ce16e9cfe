"""Wall time of the README's main job, ``acq demo``, with the venv present.

Runs ``acq demo`` as a user does (the packaged default station: five pressures, each with
EIS, a fly-scan CT and one 0.01C cycle; the embedded Tiled; the analysis worker) in a
temporary directory, so its ``data/`` is fresh, and times the whole command: start-up,
acquisition, analysis, reading back and printing. The demo's own line "N runs acquired in
A s, analysed B s later" splits it. It serves the station's default ports (8010, 5064/5065,
5577/5578): nothing else may serve them meanwhile.

    .venv/bin/python -m benchmarks.demo
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.figures import Figure

#: The issue's goal for the whole command, s.
GOAL_S = 60.0
#: The demo's summary line (acq.demo.run).
ACQUIRED = re.compile(r"(\d+) runs acquired in (\d+) s, analysed (\d+) s later")


def run_demo() -> tuple[float, str]:
    """Wall seconds of ``acq demo`` in a fresh directory, and its output."""
    acq = Path(sys.executable).with_name("acq")
    with tempfile.TemporaryDirectory(prefix="acq-demo-bench-") as folder:
        started = time.perf_counter()
        done = subprocess.run(
            [str(acq), "demo"], cwd=folder, capture_output=True, text=True, timeout=900
        )
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"acq demo exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return elapsed, done.stdout


def figures(quick: bool = False) -> list[Figure]:
    """The demo's wall time (the same with ``quick``: the demo has one size)."""
    elapsed, output = run_demo()
    found = ACQUIRED.search(output)
    detail = (
        f"{found[1]} runs acquired in {found[2]} s, analysed {found[3]} s later"
        if found
        else "the demo printed no acquisition line"
    )
    return [
        Figure(
            "`acq demo` (5 pressures: EIS, CT, 0.01C cycle; analysis), whole command",
            elapsed,
            "s",
            GOAL_S,
            "lower",
            anchor="wall clock, .venv present, fresh data directory",
            detail=detail,
        )
    ]


def main() -> None:
    for figure in figures():
        print(f"{figure.name}: {figure.value:.0f} {figure.unit} ({figure.detail})")


if __name__ == "__main__":
    main()
