"""Build a whole station's devices from one config (the dodal beamline shape).

Every device is made by a small typed factory from the config and named as
`conventions.data_keys` says; `connect_station` connects them all and reports every failure
at once rather than stopping at the first; `Station.close` lets them go before the IOCs do.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import ophyd
from ophyd import Device
from ophyd.signal import EpicsSignalBase
from ophyd.sim import make_fake_device

from conventions import data_keys
from conventions.cell_geometry import disc_area_mm2
from devices.beam_monitor import BeamMonitor
from devices.position_compare import PositionCompare
from devices.potentiostat import Potentiostat
from devices.press import PressureCell
from devices.station_clock import StationClock, WallClock
from devices.station_lock import StationLock
from devices.tomography import TomographyDetector, TomographyStage

from ..config import StationConfig
from . import shared_pvs

D = TypeVar("D", bound=Device)

#: Seconds an EPICS signal of the station gets to connect when it is first used.
SIGNAL_CONNECTION_TIMEOUT_S = 5.0


class StationConnectionError(RuntimeError):
    """One or more devices of a station did not connect."""


@dataclass
class Station:
    """The devices of one station, as built from its config."""

    config: StationConfig
    press: PressureCell
    potentiostat: Potentiostat
    tomo_stage: TomographyStage
    detector: TomographyDetector
    position_compare: PositionCompare
    beam: BeamMonitor
    #: The experiment clock every plan reads in each event (`make_clock`).
    clock: StationClock
    #: The IOCs' lock, held while a plan runs (the simulated IOCs serve it; None on hardware,
    #: whose IOCs apply an access-security file instead: docs/pv_conventions.md).
    lock: StationLock | None = None

    def devices(self) -> dict[str, Device]:
        """Every device by its name (the names plans and the queue server use)."""
        return {
            device.name: device
            for device in (
                self.press,
                self.potentiostat,
                self.tomo_stage,
                self.detector,
                self.position_compare,
                self.beam,
                self.clock,
            )
        }

    def connectable(self) -> dict[str, Device]:
        """`devices` and the lock: everything with PVs to connect."""
        lock = {self.lock.name: self.lock} if self.lock is not None else {}
        return {**self.devices(), **lock}

    def close(self) -> None:
        """Release the lock if a plan left it taken (a RunEngine paused and abandoned in this
        process: the lock goes with the process's connection, which other stations of the
        process share), then drop every device's Channel Access connections and
        subscriptions (`close_devices`)."""
        if self.lock is not None:
            self.lock.unstage()  # idempotent: nothing is written unless it is staged
        close_devices(self.connectable().values())


def close_devices(devices: Iterable[Device]) -> None:
    """Drop the devices' Channel Access connections and subscriptions, before the IOCs go
    away, so no monitor fires into a half-torn-down client.

    Every subscription goes first, and the callbacks already under way finish: a device's
    own callbacks read its other signals (`ophyd.EpicsMotor` reads ``.TDIR`` and the limit
    switches whenever ``.DMOV`` changes, which the press's feedback makes it do many times a
    second), and must not do so while those are being destroyed.
    """
    devices = list(devices)
    for device in devices:
        for walk in device.walk_signals():
            walk.item.unsubscribe_all()
    _finish_pending_callbacks()
    # From the PVs other stations of the process use, once the callbacks under way have run:
    # one of them may have made a lazy signal (a motor's `.TDIR` when a move ends).
    for device in devices:
        for walk in device.walk_signals():
            if isinstance(walk.item, EpicsSignalBase):
                shared_pvs.detach(walk.item)
    for device in devices:
        device.destroy()


def _finish_pending_callbacks(timeout_s: float = 5.0) -> None:
    """Wait until every callback ophyd's dispatcher threads hold has run: each thread runs a
    marker after what it already queued."""
    dispatcher = ophyd.cl.get_dispatcher()
    if dispatcher is None:
        return
    markers = []
    for thread in dispatcher.threads.values():
        marker = threading.Event()
        thread.queue.put((marker.set, (), {}))
        markers.append(marker)
    deadline = time.monotonic() + timeout_s
    for marker in markers:
        marker.wait(max(deadline - time.monotonic(), 0.0))


def _kind(device_class: type[D], fake: bool) -> type[D]:
    """``device_class``, or ophyd's fake of it (every EPICS signal a settable `FakeEpicsSignal`,
    no Channel Access) for tests without IOCs."""
    return make_fake_device(device_class) if fake else device_class


def make_press(config: StationConfig, *, fake: bool = False) -> PressureCell:
    """The stack-pressure cell, with the config's tolerance, dwell, settle timeout and hold
    band, and the cell's disc area."""
    press = _kind(PressureCell, fake)(
        config.station.prefix + config.press.prefix, name=data_keys.PRESS
    )
    press.tolerance_MPa.put(config.press.tolerance_MPa)
    press.dwell_s.put(config.press.dwell_s)
    press.settle_timeout_s.put(config.press.settle_timeout_s)
    press.hold_band_MPa.put(config.press.hold_band_MPa)
    press.area_mm2.put(disc_area_mm2(config.cell.diameter_mm))
    return press


def make_clock(config: StationConfig, *, fake: bool = False) -> StationClock:
    """The experiment clock: the one a simulated station serves under ``<prefix>station:``
    (running ``time_scale`` times fast); on hardware, whose experiment time is the wall
    clock, a `WallClock` with no PV."""
    if config.simulation is None:
        return WallClock(name=data_keys.CLOCK)
    return _kind(StationClock, fake)(config.station.prefix + "station:", name=data_keys.CLOCK)


def make_station_lock(config: StationConfig, *, fake: bool = False) -> StationLock | None:
    """The lock of a simulated station's IOCs (None for hardware: see `Station.lock`)."""
    if config.simulation is None:
        return None
    return _kind(StationLock, fake)(config.station.prefix + "station:", name="station_lock")


def make_potentiostat(config: StationConfig, *, fake: bool = False) -> Potentiostat:
    """The potentiostat channel, with technique timeouts on the station's clock and the cell's
    characteristics (area, active mass, nominal capacity, cell type)."""
    pstat = _kind(Potentiostat, fake)(
        config.station.prefix + config.potentiostat.prefix,
        name=data_keys.POTENTIOSTAT,
        time_scale=config.station.time_scale,
    )
    pstat.electrode_area_cm2.put(config.cell.area_cm2)
    pstat.active_mass_g.put(config.cell.active_mass_g)
    pstat.nominal_capacity_mAh.put(config.cell.nominal_capacity_mAh)
    pstat.cell_type.put(config.cell.cell_type)
    return pstat


def make_tomo_stage(config: StationConfig, *, fake: bool = False) -> TomographyStage:
    """Rotation, sample translation and shutter, with the config's sample-out position and
    stage speeds."""
    tomography = config.tomography
    stage = _kind(TomographyStage, fake)(
        config.station.prefix + tomography.prefix, name=data_keys.STAGE
    )
    stage.sample_out_mm.put(tomography.sample_out_mm)
    stage.sample_speed_mm_s.put(tomography.sample_speed_mm_s)
    stage.rotation_speed_deg_s.put(tomography.rotation_speed_deg_s)
    return stage


def make_position_compare(config: StationConfig, *, fake: bool = False) -> PositionCompare:
    """The position-compare unit that triggers the detector from the rotation (fly CT)."""
    return _kind(PositionCompare, fake)(
        config.station.prefix + config.tomography.prefix + "pc:", name=data_keys.POSITION_COMPARE
    )


def make_beam_monitor(config: StationConfig, *, fake: bool = False) -> BeamMonitor:
    """The ring current, with the config's threshold and resume delay for a CT."""
    tomography = config.tomography
    beam = _kind(BeamMonitor, fake)(tomography.beam_pv(config.station.prefix), name=data_keys.BEAM)
    beam.min_current_mA.put(tomography.min_beam_current_mA)
    beam.resume_delay_s.put(tomography.beam_resume_delay_s)
    return beam


def make_detector(config: StationConfig, *, fake: bool = False) -> TomographyDetector:
    """The area detector writing HDF5 frames under the station's frames directory."""
    return _kind(TomographyDetector, fake)(
        config.station.prefix + config.tomography.prefix,
        name=data_keys.DETECTOR,
        data_dir=config.frames_dir,
    )


def _set_signal_defaults() -> None:
    """ophyd takes signal defaults only before its first EPICS signal is made: the first
    station of a process sets them; a later one finds them set."""
    # RuntimeError once signals exist: made with the defaults an earlier station set.
    with contextlib.suppress(RuntimeError):
        EpicsSignalBase.set_defaults(connection_timeout=SIGNAL_CONNECTION_TIMEOUT_S)


def build_station(config: StationConfig, *, fake: bool = False) -> Station:
    """Make every device of the station (not yet connected); with ``fake``, ophyd's fakes
    of them (`ophyd.sim.make_fake_device`), for tests with no IOC.

    Every EPICS signal gets `SIGNAL_CONNECTION_TIMEOUT_S` to connect (ophyd's default, 1 s, is
    short for a busy IOC host; areaDetector's trigger mixin connects ``cam.acquire`` as the
    detector is made).

    Raises
    ------
    StationConnectionError
        If the detector's ``cam.acquire`` does not connect (the IOCs are down), naming on one
        line every device whose PVs have not connected.
    """
    if not fake:
        _set_signal_defaults()
    press = make_press(config, fake=fake)
    potentiostat = make_potentiostat(config, fake=fake)
    tomo_stage = make_tomo_stage(config, fake=fake)
    position_compare = make_position_compare(config, fake=fake)
    beam = make_beam_monitor(config, fake=fake)
    clock = make_clock(config, fake=fake)
    lock = make_station_lock(config, fake=fake)
    try:  # last: it waits for cam.acquire, while the others' PVs connect
        detector = make_detector(config, fake=fake)
    except TimeoutError as error:
        built: list[Device] = [press, potentiostat, tomo_stage, position_compare, beam, clock]
        built += [lock] if lock is not None else []
        failures = [_not_connected(d.name, d, error) for d in built if not d.connected]
        close_devices(built)
        raise StationConnectionError(
            "station devices did not connect: "
            + "; ".join([*failures, f"{data_keys.DETECTOR} ({error})"])
        ) from None
    return Station(
        config, press, potentiostat, tomo_stage, detector, position_compare, beam, clock, lock
    )


def connect_station(station: Station, timeout_s: float = 10.0) -> None:
    """Connect every device; raise one error naming all that failed.

    Raises
    ------
    StationConnectionError
        Naming, on one line, each device that did not connect and its PVs that did not.
    """
    failures = []
    for name, device in station.connectable().items():
        try:
            device.wait_for_connection(timeout=timeout_s)
        except Exception as error:  # collect all, report together
            failures.append(_not_connected(name, device, error))
    if failures:
        raise StationConnectionError(
            f"station devices did not connect within {timeout_s:g} s: " + "; ".join(failures)
        )


def _not_connected(name: str, device: Device, error: Exception) -> str:
    """A device that did not connect, for a one-line message: its PVs that did not."""
    pvs = [
        walk.item.pvname
        for walk in device.walk_signals()
        if isinstance(walk.item, EpicsSignalBase) and not walk.item.connected
    ]
    if not pvs:
        return f"{name} ({error})"
    return f"{name} ({len(pvs)} PVs, e.g. {pvs[0]})"
