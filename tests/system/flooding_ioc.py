"""An IOC served by the station's server (`simulated_devices.secured_server`) whose ``Image``
floods its monitors and whose ``Counter`` ticks slowly: what a slow client's backlog fills
with, and what the other clients must still hear (`test_a_stopped_client`).

``python -m tests.system.flooding_ioc PREFIX`` serves it on loopback until interrupted.
"""

from __future__ import annotations

import sys

import numpy as np
from caproto.server import PVGroup, pvproperty

from simulated_devices.access import StationAccess
from simulated_devices.secured_server import serve
from simulated_devices.station_lock import StationLockIOC

#: ``Image``: doubles per update, and seconds between updates (≈ 6 MB/s).
IMAGE_POINTS = 4000
IMAGE_PERIOD_S = 0.005
#: Seconds between ``Counter`` updates.
COUNTER_PERIOD_S = 0.1


class FloodingIOC(PVGroup):
    """``Image`` updated every `IMAGE_PERIOD_S`, ``Counter`` every `COUNTER_PERIOD_S`."""

    image = pvproperty(name="Image", value=[0.0] * IMAGE_POINTS, read_only=True)
    counter = pvproperty(name="Counter", value=0, read_only=True)

    @image.startup
    async def image(self, instance, async_lib):
        frame = 0
        while True:
            frame += 1
            await instance.write(np.full(IMAGE_POINTS, float(frame)))
            await async_lib.library.sleep(IMAGE_PERIOD_S)

    @counter.startup
    async def counter(self, instance, async_lib):
        while True:
            await async_lib.library.sleep(COUNTER_PERIOD_S)
            await instance.write(instance.value + 1)


def main(prefix: str) -> None:
    lock = StationLockIOC(prefix=prefix + "station:")
    pvdb = {**FloodingIOC(prefix=prefix).pvdb, **lock.pvdb}
    serve(pvdb, StationAccess([], locked=()), lock, interfaces=["127.0.0.1"])


if __name__ == "__main__":
    main(sys.argv[1])
