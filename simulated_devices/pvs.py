"""Small pvproperty factories and the base group shared by the simulated IOCs."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from caproto import ChannelAlarm, ChannelType
from caproto._data import CannotExceedLimits, SkipWrite
from caproto.server import PVGroup, pvproperty
from caproto.server.server import pvspec_type_map

#: Length of message PVs, characters (longer than a 40-character EPICS string).
MESSAGE_LENGTH = 256


def message_pv(name: str, doc: str = "") -> pvproperty:
    """A read-only long-string (char waveform) PV for status and error messages."""
    return pvproperty(
        name=name,
        value="",
        dtype=ChannelType.CHAR,
        max_length=MESSAGE_LENGTH,
        string_encoding="utf-8",
        read_only=True,
        doc=doc,
    )


class _ReportsRefusals:
    """Mixin of a pvproperty's data class: a write it refuses (caproto's limit check, an
    enum index out of range, a putter that raises) is reported to its group before the
    refusal reaches the client (an ECA_PUTFAIL, which pyepics does not report)."""

    async def verify_value(self, value: Any) -> Any:
        try:
            return await super().verify_value(value)  # type: ignore[misc]
        except SkipWrite:
            raise
        except Exception as error:
            await self.group.report_refusal(self, value, error)  # type: ignore[attr-defined]
            raise


def _reporting(cls: type) -> type:
    return type(cls.__name__, (_ReportsRefusals, cls), {})


class ReportingGroup(PVGroup):
    """A PVGroup of records: each PV has an alarm of its own, and a refused write says why
    in an error-message PV.

    caproto gives every PV of a group one shared alarm unless told otherwise, so one PV's
    alarm change is posted to every PV of the group (an idle IOC's unchanged values flood
    their monitors) and one PV's limits set another's severity. Each PV here, as each
    record of an EPICS IOC, gets its own (its record fields, ``.SEVR`` and ``.STAT``,
    follow it) (docs/pv_conventions.md, "Alarms").

    The message goes to the group's ``error_message`` PV, or its parent group's if it has
    none (a motor's refusal is its IOC's), as ``"<PV>=<value> refused: <why>"``;
    ``refusal_reasons`` (PV suffix → text) adds what a limit stands for.
    """

    type_map: ClassVar[dict] = {dtype: _reporting(cls) for dtype, cls in pvspec_type_map.items()}
    #: PV suffix → what its limits stand for, appended to a refusal message.
    refusal_reasons: ClassVar[dict[str, str]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for instance in self.attr_pvdb.values():
            alarm = ChannelAlarm()
            instance.alarm = alarm  # leaves the shared one
            fields = getattr(instance, "field_inst", None)
            if fields is not None:  # caproto's record fields follow their record's alarm
                fields._alarm.disconnect(fields)
                fields._alarm = alarm
                alarm.connect(fields)

    async def report_refusal(self, instance: Any, value: Any, error: Exception) -> None:
        """Publish why ``instance`` refused ``value``."""
        suffix = instance.pvname[len(self.prefix) :]
        if isinstance(error, CannotExceedLimits):
            why = f"outside [{instance.lower_ctrl_limit:g}, {instance.upper_ctrl_limit:g}]"
            units = getattr(instance, "units", "")
            why += f" {units}" if units else ""
        else:
            why = str(error)
        if suffix in self.refusal_reasons:
            why += f" ({self.refusal_reasons[suffix]})"
        if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 1:
            value = value[0]  # a scalar written over Channel Access arrives as [x]
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, int) and 0 <= value < len(getattr(instance, "enum_strings", ())):
            value = instance.enum_strings[value]  # an enum written by its index
        if isinstance(value, str):
            value = str(value)  # an enum member as the string it stands for
        await self.report(f"{instance.pvname}={value!r} refused: {why}")

    async def report(self, message: str) -> None:
        """Write ``message`` to this group's ``error_message`` PV, or its parent's."""
        target = getattr(self, "error_message", None)
        if target is not None:
            await target.write(message[:MESSAGE_LENGTH])
        elif isinstance(self.parent, ReportingGroup):
            await self.parent.report(message)
