"""The X-ray beam a CT needs: the storage ring's current, and when a CT waits for it.

==========================  =====  ==========================================================
signal                      unit   PV / meaning
==========================  =====  ==========================================================
``current_mA``              mA     the device's prefix is the whole PV name (a facility's ring
                                   current, e.g. ``SR:C03-BI{DCCT:1}I:Real-I``; the simulated
                                   tomography IOC's ``BeamCurrent_RBV``)
``min_current_mA``          mA     soft: a CT is suspended while the current is below it (0:
                                   never)
``resume_delay_s``          s      soft: wall seconds the beam must be back before it goes on
==========================  =====  ==========================================================
"""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import Device, EpicsSignalRO, Signal


class BeamMonitor(Device):
    """The ring current a CT is suspended on (`plans.ct.beam_suspenders`).

    Parameters
    ----------
    prefix
        The ring current's PV name, whole.
    """

    current_mA = Cpt(EpicsSignalRO, "", kind="hinted")
    min_current_mA = Cpt(Signal, value=0.0, kind="config")
    resume_delay_s = Cpt(Signal, value=0.0, kind="config")
