"""Position-compare unit (Zebra-style ``PC_*`` PVs) that triggers a camera from a motor."""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import Device, EpicsSignal, EpicsSignalRO


class PositionCompare(Device):
    """Pulses at ``pulse_start_deg + i·pulse_step_deg`` (i < ``pulse_max``) as the motor passes.

    ===================  ==================  =====  ========================================
    attribute            PV suffix           unit   meaning
    ===================  ==================  =====  ========================================
    ``direction``        ``PC_DIR``                 Positive / Negative
    ``pulse_start_deg``  ``PC_PULSE_START``  deg    first pulse position
    ``pulse_step_deg``   ``PC_PULSE_STEP``   deg    pulse spacing (> 0)
    ``pulse_max``        ``PC_PULSE_MAX``           pulses per arm
    ``arm``              ``PC_ARM``                 1 arms
    ``disarm``           ``PC_DISARM``              1 disarms
    ``armed``            ``PC_ARM_OUT``             1 while armed
    ``num_down``         ``PC_NUM_DOWN``            pulses sent since the arm
    ``positions_deg``    ``PC_ENC1``         deg    latched position of each pulse
    ``times_s``          ``PC_TIME``         s      time of each pulse since the arm
    ===================  ==================  =====  ========================================
    """

    direction = Cpt(EpicsSignal, "PC_DIR", string=True, kind="config")
    pulse_start_deg = Cpt(EpicsSignal, "PC_PULSE_START", kind="config")
    pulse_step_deg = Cpt(EpicsSignal, "PC_PULSE_STEP", kind="config")
    pulse_max = Cpt(EpicsSignal, "PC_PULSE_MAX", kind="config")
    arm = Cpt(EpicsSignal, "PC_ARM", put_complete=True, kind="omitted")
    disarm = Cpt(EpicsSignal, "PC_DISARM", put_complete=True, kind="omitted")
    armed = Cpt(EpicsSignalRO, "PC_ARM_OUT", kind="omitted")
    num_down = Cpt(EpicsSignalRO, "PC_NUM_DOWN", kind="omitted")
    positions_deg = Cpt(EpicsSignalRO, "PC_ENC1", auto_monitor=False, kind="omitted")
    times_s = Cpt(EpicsSignalRO, "PC_TIME", auto_monitor=False, kind="omitted")
