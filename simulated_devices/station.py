"""Launcher: one caproto server serving a whole simulated station under one PV prefix.

The three IOCs share one `SimulatedCell`, so the press's stack pressure reaches the
potentiostat's spectra and the detector's frames. Run as::

    python -m simulated_devices --prefix SIM: --data-dir data/frames --time-scale 1e5 \
        [--parameters cell.json] [--seed 0] [--rating-MPa 150] [--load-cell-range-N 500] \
        [--ca-writer 'user@localhost' ...]

Channel Access stays on loopback unless the caller's environment says otherwise. Only the
``--ca-writer`` clients (default: this user on this machine) may write, and while the
station's lock (``<prefix>station:Lock``) is held, the settings a plan relies on are writable
over the lock holder's connection only (`simulated_devices.access`).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from caproto.server import PVGroup

from .access import StationAccess, check_writer_pattern
from .cell import SimulatedCell
from .loopback import LOOPBACK_SERVER_ENVIRONMENT
from .physics.clock import SimClock
from .physics.parameters import CellParameters
from .potentiostat import PotentiostatIOC
from .press import PressIOC
from .station_clock import StationClockIOC
from .station_lock import StationLockIOC
from .tomography import TomographyIOC

#: Prefix of the station's own PVs, its lock (`StationLockIOC`) and its clock
#: (`StationClockIOC`), after the station's prefix.
LOCK_PREFIX = "station:"


@dataclass(frozen=True)
class StationOptions:
    """What a simulated station is built from (the station config's simulated part)."""

    prefix: str = "SIM:"
    data_dir: Path = Path("data/frames")
    time_scale: float = 1.0
    seed: int = 0
    parameters: CellParameters = field(default_factory=CellParameters)
    press_prefix: str = "press:"
    potentiostat_prefix: str = "pstat:"
    tomography_prefix: str = "tomo:"
    rating_MPa: float = 150.0
    load_cell_range_N: float = 500.0
    compliance_current_A: float = 0.01
    compliance_voltage_V: float = 10.0
    #: ``"user@host"`` patterns of the clients that may write; empty: this user, this host.
    writers: tuple[str, ...] = ()


def build_station(
    options: StationOptions, cell: SimulatedCell | None = None
) -> tuple[SimulatedCell, dict]:
    """Build the shared cell and the PV database of all three IOCs.

    Parameters
    ----------
    options
        What the station is built from.
    cell
        The model the IOCs act on; the physics of ``options`` when omitted (a
        `simulated_devices.playback.PlaybackCell` plays a recorded run back instead).

    Returns
    -------
    cell, pvdb
        The simulated cell (for inspection, e.g. the phantom's truth) and the PV database
        to pass to `serve_station` (the station's lock included).
    """
    if cell is None:
        cell = SimulatedCell(options.parameters, SimClock(options.time_scale), options.seed)
    groups: list[PVGroup] = [
        PressIOC(
            prefix=options.prefix + options.press_prefix,
            cell=cell,
            rating_MPa=options.rating_MPa,
            load_cell_range_N=options.load_cell_range_N,
        ),
        PotentiostatIOC(
            prefix=options.prefix + options.potentiostat_prefix,
            cell=cell,
            compliance_current_A=options.compliance_current_A,
            compliance_voltage_V=options.compliance_voltage_V,
        ),
        TomographyIOC(
            prefix=options.prefix + options.tomography_prefix, cell=cell, data_dir=options.data_dir
        ),
    ]
    groups.append(StationLockIOC(prefix=options.prefix + LOCK_PREFIX))
    groups.append(StationClockIOC(prefix=options.prefix + LOCK_PREFIX, clock=cell.clock))
    pvdb: dict = {}
    for group in groups:
        pvdb.update(group.pvdb)
    return cell, pvdb


def locked_pv_names(options: StationOptions) -> list[str]:
    """The PVs a stray client may not write while the station's lock is held."""
    return [
        options.prefix + group_prefix + suffix
        for group_prefix, group in (
            (options.press_prefix, PressIOC),
            (options.tomography_prefix, TomographyIOC),
        )
        for suffix in group.locked_while_busy
    ]


def serve_station(options: StationOptions, pvdb: dict) -> None:
    """Serve ``pvdb`` (from `build_station`) on loopback under the station's access rules,
    until interrupted; a lock holder lost while holding it leaves the cell at open circuit."""
    from .secured_server import serve  # caproto's server reads the environment on import

    access = StationAccess(options.writers, {pvdb[name] for name in locked_pv_names(options)})
    lock = pvdb[options.prefix + LOCK_PREFIX + "Lock"].group
    cell_off = (pvdb[options.prefix + options.potentiostat_prefix + "STOP"], 1)
    serve(pvdb, access, lock, interfaces=["127.0.0.1"], on_holder_lost=[cell_off])


def parse_arguments(argv: Sequence[str] | None = None) -> tuple[StationOptions, bool]:
    """Station options from the command line; the flag says whether to list PVs and exit."""
    parser = argparse.ArgumentParser(
        prog="python -m simulated_devices",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--prefix", default="SIM:")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data/frames"),
        help="where the detector writes its HDF5 files",
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="experiment seconds per wall second"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--parameters", type=Path, help="JSON file of CellParameters overrides (nested tables)"
    )
    parser.add_argument("--rating-MPa", type=float, default=150.0)
    parser.add_argument("--load-cell-range-N", type=float, default=500.0)
    parser.add_argument("--compliance-current-A", type=float, default=0.01)
    parser.add_argument("--compliance-voltage-V", type=float, default=10.0)
    parser.add_argument(
        "--ca-writer",
        action="append",
        default=[],
        type=_writer,
        metavar="USER@HOST",
        help="a client that may write (fnmatch patterns; repeat for more); default: "
        "this user on this machine",
    )
    parser.add_argument("--list-pvs", action="store_true", help="print the PVs and exit")
    args = parser.parse_args(argv)
    parameters = (
        CellParameters.from_mapping(json.loads(args.parameters.read_text()))
        if args.parameters
        else CellParameters()
    )
    options = StationOptions(
        prefix=args.prefix,
        data_dir=args.data_dir,
        time_scale=args.time_scale,
        seed=args.seed,
        parameters=parameters,
        rating_MPa=args.rating_MPa,
        load_cell_range_N=args.load_cell_range_N,
        compliance_current_A=args.compliance_current_A,
        compliance_voltage_V=args.compliance_voltage_V,
        writers=tuple(args.ca_writer),
    )
    return options, args.list_pvs


def _writer(pattern: str) -> str:
    try:
        return check_writer_pattern(pattern)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a simulated station until interrupted."""
    for key, value in LOOPBACK_SERVER_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    options, list_only = parse_arguments(argv)
    _, pvdb = build_station(options)
    if list_only:
        print("\n".join(sorted(pvdb)))
        return
    print(
        f"simulated station {options.prefix!r}: {len(pvdb)} PVs, time scale "
        f"{options.time_scale:g}, frames in {options.data_dir}",
        flush=True,
    )
    serve_station(options, pvdb)
