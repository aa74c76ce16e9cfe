"""The states the station's instruments publish as EPICS enum strings.

One list for each: the simulated IOCs serve exactly these strings, the devices put and
compare them, the plans and the analysis read them from documents. A hardware IOC with other
strings needs only this module changed. Each is a `StrEnum`, so a member compares equal to
the string a signal reads.
"""

from __future__ import annotations

from enum import StrEnum


class Switch(StrEnum):
    """An on/off control: the press feedback (``fb.FBON``), the cell connection (``CELL``)."""

    OFF = "Off"
    ON = "On"


class Shutter(StrEnum):
    """The beam shutter (``Shutter``)."""

    CLOSED = "Closed"
    OPEN = "Open"


class InterlockState(StrEnum):
    """The press interlock (``Interlock``): tripped by force beyond the load cell or pressure
    beyond the rating, re-armed by ``InterlockReset``."""

    OK = "Ok"
    TRIPPED = "Tripped"


class Technique(StrEnum):
    """The potentiostat's techniques (``TECH``): rest, impedance sweep, constant current."""

    OCV = "OCV"
    PEIS = "PEIS"
    CP = "CP"


class TechniqueState(StrEnum):
    """Whether the potentiostat runs a technique (``STATE``)."""

    STOPPED = "Stopped"
    RUNNING = "Running"


class Outcome(StrEnum):
    """How the potentiostat's last technique ended (``STATUS``; ``ERR`` says why)."""

    OK = "Ok"
    ERROR = "Error"


class HalfCycleEnd(StrEnum):
    """Which limit ended a galvanostatic half cycle (``CP:Reason``)."""

    NONE = "None"
    UPPER_CUTOFF = "upper_cutoff"
    LOWER_CUTOFF = "lower_cutoff"
    TIME_LIMIT = "time_limit"
    CAPACITY_LIMIT = "capacity_limit"
    SHORT_CIRCUIT = "short_circuit"
    #: The voltage reached the instrument's compliance: it could not drive the current.
    COMPLIANCE = "compliance"
    STOPPED = "stopped"
    ERROR = "error"


class TriggerMode(StrEnum):
    """The camera's trigger (``cam1:TriggerMode``): its own timing, or position-compare pulses."""

    INTERNAL = "Internal"
    EXTERNAL = "External"


class Direction(StrEnum):
    """The direction a position compare counts positions in (``PC_DIR``)."""

    POSITIVE = "Positive"
    NEGATIVE = "Negative"
