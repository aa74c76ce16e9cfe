"""The stack-pressure series of the source study: at each pressure, settle, EIS, CT, cycles."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator

from conventions import data_keys, plan_arguments
from conventions.pv_states import Shutter, Technique
from devices.beam_monitor import BeamMonitor
from devices.position_compare import PositionCompare
from devices.potentiostat import Potentiostat
from devices.press import PressureCell
from devices.station_clock import StationClock
from devices.tomography import TomographyDetector, TomographyStage

from .beam_wait import describe_beam_suspender
from .ct import CTSettings, acquire_ct, check_ct, ct_flyer, ct_geometry
from .cycling import (
    HalfCycleLabel,
    HalfCycleSettings,
    cycle,
    half_cycle_settings,
)
from .eis import ImpedanceSettings, measure_eis
from .experiment_time import clocked
from .metadata import checkpointed_run, plan_metadata
from .pressure import check_pressures, settle_pressure, settling
from .pressure_hold import check_load_cell, describe_suspenders, holding_pressure
from .safety import cell_off

DEFAULT_PRESSURES_MPA = (6.0, 12.0, 25.0, 50.0, 100.0)


def pressure_series(
    press: PressureCell,
    potentiostat: Potentiostat,
    stage: TomographyStage,
    detector: TomographyDetector,
    *,
    position_compare: PositionCompare | None = None,
    beam: BeamMonitor | None = None,
    pressures_MPa: Sequence[float] = DEFAULT_PRESSURES_MPA,
    eis_start_frequency_Hz: float = 1e6,
    eis_stop_frequency_Hz: float = 0.1,
    eis_points_per_decade: int = 10,
    eis_amplitude_V: float = 0.01,
    ct_num_projections: int = 361,
    ct_start_deg: float = 0.0,
    ct_stop_deg: float = 180.0,
    ct_exposure_s: float = 0.05,
    ct_num_darks: int = 10,
    ct_num_flats: int = 10,
    cycles: int = 1,
    c_rate: float = 0.01,
    upper_cutoff_V: float = 3.68,
    lower_cutoff_V: float = 2.5,
    rest_s: float = 0.0,
    record_interval_s: float | None = None,
    poll_interval_s: float = 0.2,
    clock: StationClock | None = None,
    md: dict | None = None,
) -> MsgGenerator[list[str]]:
    """For each stack pressure: settle, one EIS spectrum, one CT scan, ``cycles`` cycles.

    One run per pressure, linked by a shared ``series_uid`` in the start documents (with
    ``series_index``, ``series_length`` and the nominal ``pressure_MPa``), so analysis can
    join them by pressure. Streams of each run: ``primary`` (the settled press), ``eis``,
    ``dark``, ``flat``, ``projection`` (frames by reference; with a fly scan also
    ``ct_conditions``), ``trace`` and ``half_cycle``.
    Every argument, and the load cell, is checked before the first pressure is applied; the
    spectrum and the cycles are held at each pressure (`plans.pressure_hold`); the cell is
    switched off and the shutter closed however the series ends, and the press holds its last
    pressure.

    Parameters
    ----------
    press, potentiostat, stage, detector
        The station's instruments.
    position_compare
        The position-compare unit that makes the CT a fly scan (step scan without one).
    beam
        The ring current the CT waits for (`plans.beam_wait`) and records.
    pressures_MPa
        Stack pressures in the order applied, MPa.
    eis_start_frequency_Hz, eis_stop_frequency_Hz, eis_points_per_decade, eis_amplitude_V
        The impedance sweep (see `plans.eis.eis_sweep`).
    ct_num_projections, ct_start_deg, ct_stop_deg, ct_exposure_s, ct_num_darks, ct_num_flats
        The CT scan (see `plans.ct.ct_scan`); ``ct_num_projections = 0`` skips CT.
    cycles
        Galvanostatic cycles at each pressure (0 skips cycling).
    c_rate, upper_cutoff_V, lower_cutoff_V, rest_s, record_interval_s, poll_interval_s
        The cycling (see `plans.cycling.galvanostatic_cycles`).
    clock
        The station's experiment clock, read in every event of every stream
        (``experiment_time_s``).
    md
        Extra start-document metadata for every run.

    Returns
    -------
    list of str
        The uid of each pressure's run.
    """
    plan_arguments.pressure_series(
        pressures_MPa=pressures_MPa,
        eis_start_frequency_Hz=eis_start_frequency_Hz,
        eis_stop_frequency_Hz=eis_stop_frequency_Hz,
        eis_points_per_decade=eis_points_per_decade,
        eis_amplitude_V=eis_amplitude_V,
        ct_num_projections=ct_num_projections,
        ct_start_deg=ct_start_deg,
        ct_stop_deg=ct_stop_deg,
        ct_exposure_s=ct_exposure_s,
        ct_num_darks=ct_num_darks,
        ct_num_flats=ct_num_flats,
        cycles=cycles,
        c_rate=c_rate,
        upper_cutoff_V=upper_cutoff_V,
        lower_cutoff_V=lower_cutoff_V,
        rest_s=rest_s,
        record_interval_s=record_interval_s,
        poll_interval_s=poll_interval_s,
    )
    pressures = check_pressures(press, pressures_MPa)
    yield from check_load_cell(press)
    eis = ImpedanceSettings(
        eis_start_frequency_Hz, eis_stop_frequency_Hz, eis_points_per_decade, eis_amplitude_V
    )
    ct = None
    flyer = ct_flyer(stage, detector, position_compare, data_keys.PROJECTION)
    if ct_num_projections:
        ct = CTSettings(
            ct_num_projections,
            ct_start_deg,
            ct_stop_deg,
            ct_exposure_s,
            ct_num_darks,
            ct_num_flats,
        )
        yield from check_ct(stage, ct, flyer)
    charge = None
    if cycles:
        charge = yield from half_cycle_settings(
            potentiostat,
            c_rate,
            None,
            upper_cutoff_V,
            lower_cutoff_V,
            None,
            None,
            record_interval_s,
        )
    arguments = {
        "press": press,
        "potentiostat": potentiostat,
        "stage": stage,
        "detector": detector,
        "position_compare": position_compare,
        "beam": beam,
        "pressures_MPa": pressures,
        **{f"eis_{k}": v for k, v in asdict(eis).items()},
        "ct_num_projections": ct_num_projections,
        "ct_start_deg": ct_start_deg,
        "ct_stop_deg": ct_stop_deg,
        "ct_exposure_s": ct_exposure_s,
        "ct_num_darks": ct_num_darks,
        "ct_num_flats": ct_num_flats,
        "cycles": cycles,
        "c_rate": c_rate,
        "upper_cutoff_V": upper_cutoff_V,
        "lower_cutoff_V": lower_cutoff_V,
        "rest_s": rest_s,
        "record_interval_s": record_interval_s,
        "clock": clock,
    }
    geometry = (yield from ct_geometry(stage, detector, flyer)) if ct else {}
    techniques = {
        "eis": eis.as_dict(),
        "ct": {**ct.as_dict(), **geometry} if ct else None,
        "cycling": (
            {
                "name": Technique.CP,
                "cycles": cycles,
                "c_rate": c_rate,
                "rest_s": rest_s,
                **asdict(charge),
            }
            if charge
            else None
        ),
        "pressure": (yield from settling(press)),
    }
    series_uid = str(uuid.uuid4())
    label = HalfCycleLabel(name=data_keys.CYCLE_LABEL)
    uids: list[str] = []

    readers = clocked(
        [press, potentiostat, *([detector] if ct else []), *([beam] if ct and beam else [])],
        clock,
    )
    # What every event reads besides its own stream's readings: the press and the clock.
    stack = clocked([press], clock)

    def cycling(charge: HalfCycleSettings) -> MsgGenerator[None]:
        for cycle_index in range(cycles):
            yield from cycle(
                potentiostat,
                charge,
                label,
                cycle_index=cycle_index,
                rest_s=rest_s,
                poll_interval_s=poll_interval_s,
                detectors=stack,
            )

    def one_pressure(index: int, pressure: float) -> MsgGenerator[None]:
        metadata = plan_metadata(
            "pressure_series",
            arguments,
            md,
            detectors=readers,
            motors=[press],
            num_points=1,
            series_uid=series_uid,
            series_index=index,
            series_length=len(pressures),
            pressure_MPa=pressure,
            technique=techniques,
            suspenders=[
                *describe_suspenders(press, pressure),
                *(describe_beam_suspender(beam) if ct is not None else []),
            ],
        )

        @checkpointed_run(metadata)
        def inner() -> MsgGenerator[None]:
            yield from settle_pressure(press, pressure, clock=clock)
            spectrum = measure_eis(potentiostat, eis, stack, stream=data_keys.EIS)
            yield from holding_pressure(spectrum, press, pressure, clock)
            if ct is not None:
                yield from acquire_ct(
                    stage,
                    detector,
                    ct,
                    [press],
                    flyer=flyer,
                    beam=beam,
                    projection_stream=data_keys.PROJECTION,
                    clock=clock,
                )
            if charge is not None:
                yield from holding_pressure(cycling(charge), press, pressure, clock)

        uids.append((yield from inner()))

    def series() -> MsgGenerator[None]:
        for index, pressure in enumerate(pressures):
            yield from one_pressure(index, pressure)

    def safe_state() -> MsgGenerator[None]:
        yield from cell_off(potentiostat)
        yield from bps.mv(stage.shutter, Shutter.CLOSED)

    yield from bpp.finalize_wrapper(series(), safe_state())
    return uids
