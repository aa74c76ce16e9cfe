"""The station's simulated clock, served as data under ``<prefix>station:``.

Every PV's timestamp is the wall clock, as an IOC's; experiment time, which runs
``time_scale`` times faster on a simulated station, is a value (docs/pv_conventions.md,
"Time"):

==================  ====  ==============================================================
PV                  unit  meaning
==================  ====  ==============================================================
``ExperimentTime``  s     the simulated clock when read, seconds since the Unix epoch
``TimeScale``       1     experiment seconds per wall second
==================  ====  ==============================================================
"""

from __future__ import annotations

from caproto.server import pvproperty

from .physics.clock import SimClock
from .pvs import ReportingGroup


class StationClockIOC(ReportingGroup):
    """The simulated clock of one station.

    Parameters
    ----------
    clock
        The clock the station's IOCs run on.
    """

    experiment_time = pvproperty(
        name="ExperimentTime",
        value=0.0,
        units="s",
        precision=3,
        read_only=True,
        doc="the simulated clock when read, s since the Unix epoch",
    )
    time_scale = pvproperty(
        name="TimeScale", value=1.0, read_only=True, doc="experiment seconds per wall second"
    )

    def __init__(self, *args, clock: SimClock, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    @experiment_time.getter
    async def experiment_time(self, instance):
        return self.clock.now()  # written with the wall clock's timestamp of the read

    @experiment_time.startup
    async def experiment_time(self, instance, async_lib):
        await self.time_scale.write(self.clock.time_scale)
        await instance.write(self.clock.now())
