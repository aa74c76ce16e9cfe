"""The simulated press's PVs behave as EPICS records, over real Channel Access: each has an
alarm of its own (a put refused on one PV alarms that PV alone and posts nothing to the
others' monitors), and the load cell's ``Force`` and ``Pressure`` are ai records (``.EGU``,
``.HIGH``/``.HIHI``/``.LOW``/``.LOLO``) whose severity is computed from those limits and
reaches ophyd."""

from __future__ import annotations

import time

import epics
import pytest
from caproto.threading.client import Context
from ophyd.utils.epics_pvs import AlarmSeverity

from tests.system.messages import read_severity

#: PVs whose values the puts and the holding press below leave unchanged.
UNCHANGED = ("Rating", "LoadCellRange", "fb.VAL", "fb.ODEL", "fb.DRVH", "Tare")
#: Wall seconds given to the simulated press to react (generous: the host is shared).
SETTLE_S = 10.0


def _press_pv(station, suffix: str) -> str:
    return station.config.station.prefix + station.config.press.prefix + suffix


def _wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + SETTLE_S
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_an_unchanged_pv_posts_no_monitor_update_when_another_alarms(station):
    station.press.set(10.0).wait(timeout=30)
    context = Context()
    updates: dict[str, list] = {suffix: [] for suffix in UNCHANGED}
    callbacks = []  # caproto holds a subscription's callbacks weakly
    try:
        pvs = context.get_pvs(*(_press_pv(station, suffix) for suffix in UNCHANGED), timeout=10)
        for suffix, pv in zip(UNCHANGED, pvs, strict=True):
            pv.wait_for_connection(timeout=10)
            callbacks.append(lambda sub, response, seen=updates[suffix]: seen.append(response))
            pv.subscribe(data_type="time").add_callback(callbacks[-1])
        _wait_for(lambda: all(updates.values()), "a PV's first monitor update did not arrive")
        time.sleep(0.5)
        first = {suffix: len(seen) for suffix, seen in updates.items()}
        # Refused (fb.KI's control limits): a MAJOR (WRITE) alarm on fb.KI alone.
        epics.caput(_press_pv(station, "fb.KI"), 1e6, wait=True, timeout=5)
        time.sleep(2.0)  # a hundred IOC ticks: Force, Pressure, fb.CVAL written in each
        later = {suffix: len(seen) - first[suffix] for suffix, seen in updates.items()}
        assert later == dict.fromkeys(UNCHANGED, 0)
        assert read_severity(_press_pv(station, "fb.KI")) == AlarmSeverity.MAJOR
        assert all(read_severity(_press_pv(station, suffix)) == 0 for suffix in UNCHANGED)
    finally:
        context.disconnect()
        epics.caput(_press_pv(station, "fb.KI"), 0.5, wait=True, timeout=5)
    assert read_severity(_press_pv(station, "fb.KI")) == AlarmSeverity.NO_ALARM


@pytest.mark.parametrize(
    "suffix, full_scale_of, units",
    [("Force", "load_cell_range_N", "N"), ("Pressure", "rating_MPa", "MPa")],
)
def test_the_load_cell_readings_are_ai_records(station, suffix, full_scale_of, units):
    full_scale = getattr(station.config.press, full_scale_of)
    fields = {
        field: epics.caget(_press_pv(station, f"{suffix}.{field}"), use_monitor=False, timeout=5)
        for field in ("HIHI", "HIGH", "LOW", "LOLO")
    }
    assert fields == pytest.approx(
        {
            "HIHI": full_scale,
            "HIGH": 0.9 * full_scale,
            "LOW": -0.1 * full_scale,
            "LOLO": -full_scale,
        }
    )
    for field, expected in (("EGU", units), ("RTYP", "ai")):
        pv = _press_pv(station, f"{suffix}.{field}")
        assert epics.caget(pv, as_string=True, use_monitor=False, timeout=5) == expected


def test_the_severity_computed_from_the_limits_reaches_ophyd(station):
    press = station.press
    rating = station.config.press.rating_MPa
    high = _press_pv(station, "Force.HIGH")
    try:
        press.set(0.95 * rating).wait(timeout=60)  # above HIGH (90 % of the rating)
        _wait_for(
            lambda: press.readback.get(use_monitor=False) >= 0.9 * rating + 0.5,
            "the pressure did not rise above HIGH",
        )
        assert press.readback.alarm_severity == AlarmSeverity.MINOR
        assert epics.caget(_press_pv(station, "Pressure.STAT"), as_string=True) == "HIGH"
        assert press.force_N.get(use_monitor=False) > 0
        assert press.force_N.alarm_severity == AlarmSeverity.NO_ALARM
        # A HIGH put below the force (as an operator sets an ai's HIGH): alarmed at once.
        epics.caput(high, 1.0, wait=True, timeout=5)
        _wait_for(
            lambda: (
                press.force_N.get(use_monitor=False) is not None
                and press.force_N.alarm_severity == AlarmSeverity.MINOR
            ),
            "Force above its HIGH did not alarm",
        )
    finally:
        epics.caput(high, 0.9 * station.config.press.load_cell_range_N, wait=True, timeout=5)
        press.set(5.0).wait(timeout=60)
    _wait_for(
        lambda: (
            press.readback.get(use_monitor=False) is not None
            and press.readback.alarm_severity == AlarmSeverity.NO_ALARM
            and press.force_N.get(use_monitor=False) is not None
            and press.force_N.alarm_severity == AlarmSeverity.NO_ALARM
        ),
        "the readings stayed alarmed below their limits",
    )
