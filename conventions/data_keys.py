"""The station's device names, and the event data keys and streams their readings make.

ophyd names a reading ``<device name>_<component path>``, so these keys follow from the
device names the beamline factory gives (`PRESS`, `POTENTIOSTAT`, …) and from the devices'
components (``devices/``). The analysis, the live displays and replay read documents by them;
a key changed in a device must change here, where the tests that build every device check it.
"""

from __future__ import annotations

#: Names of the station's devices (also the names users pass to plans in the queue server).
PRESS, POTENTIOSTAT, STAGE, DETECTOR, POSITION_COMPARE = "press", "pstat", "tomo", "det", "pc"
#: Name of the beam monitor (the storage ring's current a CT waits for).
BEAM = "beam"
#: Name of the soft device that labels cycling events with the cycle number and step.
CYCLE_LABEL = "cycle"
#: Name of the station's experiment clock (`devices.station_clock`).
CLOCK = "clock"

#: The settled press: feedback setpoint, load-cell force and stack pressure.
PRESS_SETPOINT = f"{PRESS}_setpoint_MPa"
PRESS_FORCE = f"{PRESS}_force_N"
PRESS_PRESSURE = f"{PRESS}_pressure_MPa"
#: Experiment time when an event was read, s since the Unix epoch: in every event of every
#: stream, beside the event's ``time`` (wall clock); it runs ``time_scale`` times faster on a
#: simulated station, and is the wall clock on hardware (docs/pv_conventions.md, "Time").
EXPERIMENT_TIME = "experiment_time_s"
#: The ring current, recorded with every CT frame of a step scan (around a fly scan), mA.
BEAM_CURRENT = f"{BEAM}_current_mA"

#: One impedance spectrum: waveforms padded past ``SPECTRUM_POINTS`` valid points.
SPECTRUM_FREQUENCY = f"{POTENTIOSTAT}_eis_frequency_Hz"
SPECTRUM_Z_REAL = f"{POTENTIOSTAT}_eis_z_real_ohm"
SPECTRUM_Z_IMAG = f"{POTENTIOSTAT}_eis_z_imag_ohm"
SPECTRUM_POINTS = f"{POTENTIOSTAT}_eis_num_points"

#: The live cell readings of a ``trace`` event.
LIVE_TIME = f"{POTENTIOSTAT}_technique_time_s"
LIVE_VOLTAGE = f"{POTENTIOSTAT}_voltage_V"
LIVE_CURRENT = f"{POTENTIOSTAT}_current_A"
LIVE_CHARGE = f"{POTENTIOSTAT}_charge_mAh"

#: One half cycle as the instrument recorded it (a ``half_cycle`` event): waveforms padded
#: past ``HALF_CYCLE_POINTS`` valid points, the charge passed and why it ended.
_HALF_CYCLE = f"{POTENTIOSTAT}_galvanostatic_"
HALF_CYCLE_TIME = _HALF_CYCLE + "time_s"
HALF_CYCLE_VOLTAGE = _HALF_CYCLE + "voltage_V"
HALF_CYCLE_CURRENT = _HALF_CYCLE + "trace_current_A"
HALF_CYCLE_POINTS = _HALF_CYCLE + "num_points"
HALF_CYCLE_CAPACITY = _HALF_CYCLE + "capacity_mAh"
HALF_CYCLE_REASON = _HALF_CYCLE + "termination_reason"
CYCLE_INDEX = f"{CYCLE_LABEL}_index"
CYCLE_STEP = f"{CYCLE_LABEL}_step"

#: A CT frame (by reference into the detector's HDF5 file) and the angle it was taken at, deg.
FRAME = f"{DETECTOR}_image"
ANGLE = f"{STAGE}_rotation"

#: Streams of a run (`plans`): the primary readings; a pressure series' spectrum; the live
#: and the recorded cycling; the CT's darks, flats and projections, the readings taken
#: before and after a fly pass, and the CT's own timing (one event: `plans.ct_timing`).
PRIMARY, EIS, TRACE, HALF_CYCLE = "primary", "eis", "trace", "half_cycle"
DARK, FLAT, PROJECTION = "dark", "flat", "projection"
CT_CONDITIONS = "ct_conditions"
CT_TIMING = "ct_timing"

#: A technique held at its stack pressure (`plans.pressure_hold`): one event when a suspender
#: trips and one when the technique resumes, each with the press's readings and what happened.
SUSPENSIONS = "suspensions"
#: A CT waiting for the beam before a frame (`plans.beam_wait.beam_gate`): one event when the
#: wait starts and one when it ends, each with the ring current.
BEAM_WAITS = "beam_waits"
SUSPENSION_NOTE = "suspension"
