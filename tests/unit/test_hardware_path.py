"""The hardware path loads nothing of the simulator (the import-linter contracts check the
imports as written; this checks what a process really loads)."""

from __future__ import annotations

import json
import subprocess
import sys

#: What a session on hardware imports: the command line, the station, the RunEngine, the
#: IPython session and its displays, the queue server's plan annotations and launcher.
HARDWARE_PATH = (
    "acq.cli",
    "acq.beamline",
    "acq.runtime",
    "acq.interactive.ipython",
    "acq.interactive.live_display",
    "acq.interactive.live_plots",
    "acq.queue_server.queued_plans",
    "acq.queue_server.launch",
    "acq.analysis.live",
)


def test_the_hardware_path_loads_neither_the_simulator_nor_caproto():
    code = (
        "import json, sys\n"
        + "".join(f"import {module}\n" for module in HARDWARE_PATH)
        + "print(json.dumps(sorted(m for m in sys.modules\n"
        "    if m.split('.')[0] in ('simulated_devices', 'caproto'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []
