"""Definitions every layer of the station shares, each written once.

The bottom layer of the project (see the README's Architecture and the import-linter
contracts in ``pyproject.toml``): the simulated instruments, the ophyd devices, the plans
and the analysis all import from here, and this package imports nothing of theirs — nor
EPICS, ophyd, bluesky, caproto or Tiled — so the analysis runs on a workstation with none of
them.

=================  ============================================================================
module             what
=================  ============================================================================
`cell_geometry`    disc area, active mass, layer thickness, the highest pressure a press takes
`voxels`           phase labels of a CT volume and the metrics measured on it
`impedance`        the potentiostat's EIS frequency grid and spectrum size, the default circuit
`cycling`          the potentiostat's trace buffer, the voltage-collapse criterion
`data_keys`        the station's device names and the event data keys and streams they make
`versions`         the software versions recorded with every run
=================  ============================================================================
"""
