"""Keys stay out of command lines (which any local user reads in ps) and logs are the
owner's only."""

from __future__ import annotations

import stat
from pathlib import Path


def test_the_tiled_key_is_not_on_any_command_line_and_logs_are_private(
    tiled_server, simulated_station, tiled_client
):
    assert tiled_client["raw"] is not None  # the key in the environment opens the catalog
    for process in tiled_server._processes:
        command_line = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert tiled_server.api_key.encode() not in command_line
    for service in (tiled_server, simulated_station):
        mode = stat.S_IMODE(service.log_path.stat().st_mode)
        assert mode == 0o600, f"{service.log_path}: {oct(mode)}"
