"""Electrochemical impedance spectroscopy plans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator
from ophyd import Device

from conventions import data_keys, plan_arguments
from conventions.impedance import sweep_points
from devices.potentiostat import Potentiostat
from devices.press import PressureCell
from devices.station_clock import StationClock

from .metadata import checkpointed_run, plan_metadata
from .pressure_hold import describe_suspenders, held_at, hold_target, stack_readers
from .safety import with_cell_off


@dataclass(frozen=True)
class ImpedanceSettings:
    """One potentiostatic EIS sweep.

    Parameters
    ----------
    start_frequency_Hz, stop_frequency_Hz
        Sweep from the first to the second, Hz (usually high to low).
    points_per_decade
        Log-spaced points per decade.
    amplitude_V
        AC amplitude, V.

    Raises
    ------
    ValueError
        On a frequency outside the instrument's range, too many points, or a bad amplitude.
    """

    start_frequency_Hz: float = 1e6
    stop_frequency_Hz: float = 0.1
    points_per_decade: int = 10
    amplitude_V: float = 0.01

    def __post_init__(self) -> None:
        plan_arguments.impedance_sweep(
            self.start_frequency_Hz,
            self.stop_frequency_Hz,
            self.points_per_decade,
            self.amplitude_V,
        )

    @property
    def num_points(self) -> int:
        """Frequencies in the sweep (both ends included)."""
        return sweep_points(
            self.start_frequency_Hz, self.stop_frequency_Hz, self.points_per_decade
        )

    def as_dict(self) -> dict:
        """The settings by name, with units in the names."""
        return {"name": "PEIS", **asdict(self)}


def configure_eis(potentiostat: Potentiostat, settings: ImpedanceSettings) -> MsgGenerator[None]:
    """Load the sweep's parameters into the potentiostat (no run)."""
    eis = potentiostat.eis
    yield from bps.mv(
        eis.initial_frequency_Hz,
        settings.start_frequency_Hz,
        eis.final_frequency_Hz,
        settings.stop_frequency_Hz,
        eis.points_per_decade,
        settings.points_per_decade,
        eis.amplitude_V,
        settings.amplitude_V,
    )


def measure_eis(
    potentiostat: Potentiostat,
    settings: ImpedanceSettings,
    detectors: Sequence[Device] = (),
    *,
    stream: str = data_keys.EIS,
) -> MsgGenerator[None]:
    """Configure and take one spectrum as an event in ``stream`` (no run).

    ``detectors`` are read in the same event (e.g. the press, so the spectrum carries the
    stack pressure it was measured at).
    """
    # A pause (Ctrl-C) switches the cell off; `RE.resume()` takes the spectrum again.
    yield from bps.checkpoint()
    yield from configure_eis(potentiostat, settings)
    yield from bps.trigger_and_read([potentiostat.eis, *detectors], name=stream)


def eis_sweep(
    potentiostat: Potentiostat,
    *,
    press: PressureCell | None = None,
    start_frequency_Hz: float = 1e6,
    stop_frequency_Hz: float = 0.1,
    points_per_decade: int = 10,
    amplitude_V: float = 0.01,
    detectors: Sequence[Device] = (),
    clock: StationClock | None = None,
    md: dict | None = None,
) -> MsgGenerator[str]:
    """One impedance spectrum (frequency, Z′, Z″ arrays) as one event.

    Parameters
    ----------
    potentiostat
        The potentiostat channel.
    press
        The stack's press: read in the event, and the sweep held at the pressure its
        feedback holds (`plans.pressure_hold`).
    start_frequency_Hz, stop_frequency_Hz
        Sweep range, Hz (within 1 mHz – 7 MHz).
    points_per_decade
        Log-spaced points per decade (at most 512 points in all).
    amplitude_V
        AC amplitude, V.
    detectors
        Also read in the event.
    clock
        The station's experiment clock, read in every event (``experiment_time_s``).
    md
        Extra start-document metadata.

    Returns
    -------
    str
        The run's uid.
    """
    settings = ImpedanceSettings(
        start_frequency_Hz, stop_frequency_Hz, points_per_decade, amplitude_V
    )
    readers = stack_readers(press, detectors, clock)
    target_MPa = (yield from hold_target(press)) if press is not None else None
    metadata = plan_metadata(
        "eis_sweep",
        {
            "potentiostat": potentiostat,
            "press": press,
            **asdict(settings),
            "detectors": list(detectors),
            "clock": clock,
        },
        md,
        detectors=[potentiostat, *readers],
        num_points=1,
        technique=settings.as_dict(),
        suspenders=describe_suspenders(press, target_MPa),
    )

    @checkpointed_run(metadata)
    @held_at(press, target_MPa, clock)
    def inner() -> MsgGenerator[None]:
        yield from measure_eis(potentiostat, settings, readers, stream=data_keys.PRIMARY)

    return (yield from with_cell_off(inner(), potentiostat))
