"""A status that tells progress bars how far an action has got, as ophyd's `MoveStatus` does
for motors, for actions that are not motor moves (a stack pressure settling)."""

from __future__ import annotations

import time

from ophyd import Device
from ophyd.status import DeviceStatus


class ProgressStatus(DeviceStatus):
    """`DeviceStatus` whose watchers (``RE.waiting_hook``'s progress bars) hear `report`.

    Parameters
    ----------
    device
        The device acting.
    initial, target
        Where the reported quantity starts and where the action takes it, in ``unit``.
    unit
        Unit of the reported quantity (e.g. ``"MPa"``).
    """

    def __init__(self, device: Device, *, initial: float, target: float, unit: str,
                 **kwargs) -> None:
        super().__init__(device, **kwargs)
        self.initial, self.target, self.unit = float(initial), float(target), unit
        self._started = time.monotonic()

    def report(self, current: float) -> None:
        """Tell every watcher the quantity is now ``current`` (``fraction``: what remains,
        1 → 0, as for a motor)."""
        span = self.target - self.initial
        remaining = min(max((self.target - current) / span, 0.0), 1.0) if span else 0.0
        for watcher in list(self._watchers):
            watcher(name=self.device.name, current=current, initial=self.initial,
                    target=self.target, unit=self.unit, precision=3, fraction=remaining,
                    time_elapsed=time.monotonic() - self._started)
