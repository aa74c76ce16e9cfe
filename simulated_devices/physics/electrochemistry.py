"""Current → voltage over time: galvanostatic half cycles of a full or a symmetric cell.

Full cell (``cell_type = "full"``), cathode against a lithium(-alloy) anode:

* OCV of the cathode vs the anode, a sloped curve with logarithmic ends, over the state of
  charge s = q / Q_acc (q: charge taken out of the cathode, mAh);
* accessible capacity Q_acc = specific capacity × active mass × f(P), where f rises
  logarithmically from ``accessible_fraction_at_low_pressure`` to
  ``accessible_fraction_saturated`` and is flat above the saturation pressure;
* overpotential I·(R_series + R_ct), the charge-transfer part relaxing with `POLARISATION_TAU_S`;
* Coulombic efficiency: on charge a fraction (1 − CE) of the current feeds side reactions and
  does not delithiate the cathode, so the next discharge returns CE × the charge;
* a limited lithium anode (finite N/P): the inventory starts at N/P × the nominal capacity and
  loses ``lithium_loss_per_cycle`` of what is plated on every charge (dead lithium); once it
  runs short the discharge voltage collapses early, so capacity holds and then falls at a knee.

Symmetric cell (``cell_type = "symmetric"``), Li | SSE | Li plating and stripping:

* V = I·(R_series + R_interface / contact), R_interface the two interfaces' resistance at the
  stack pressure (`InterfaceParameters`, the same resistance as the spectrum's interface arc);
* dendrite onset: while the local plating current density (applied / contact) is above the
  critical current density, a filament grows; the polarisation rises sharply as it does and,
  once `DENDRITE_CHARGE_mAh_cm2` has passed above the CCD, the cell shorts: the voltage
  collapses towards 0. Below the CCD nothing grows, so a staircase shorts at its first step
  above the CCD whatever its record interval;
* void formation: stripping faster than creep refills the interface (creep supply × stack
  pressure) leaves voids; the contact fraction falls and the interface resistance rises.

Both: slow contact-loss polarisation growth of ``contact_loss_per_h`` per hour under current;
raising the stack pressure restores lost contact (and closes voids).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from conventions.pv_states import HalfCycleEnd

from .parameters import CellParameters

#: Relaxation time of the charge-transfer polarisation, experiment seconds.
POLARISATION_TAU_S = 60.0
#: Standard deviation of the voltage measurement noise, V.
VOLTAGE_NOISE_V = 2e-4
#: Resistance of a dendrite short, Ω.
SHORT_RESISTANCE_OHM = 1.0
#: Charge density plated above the CCD that a dendrite needs to cross the separator, mAh/cm²
#: (the current focuses on the filament's tip, so it runs away: about 0.5 µm of lithium over
#: the whole area, well within one half cycle of a staircase).
DENDRITE_CHARGE_mAh_cm2 = 0.1
#: Stripped charge density beyond the creep supply that halves the contact, mAh/cm² (about
#: 0.25 µm of lithium).
VOID_CHARGE_mAh_cm2 = 0.05
#: Height and width (in state of charge) of the steep ends of the OCV curve.
OCV_EDGE_V = 1.0
OCV_EDGE_WIDTH = 0.02
#: Integration sub-steps per record interval.
SUBSTEPS_PER_RECORD = 4


class ElectrochemicalCell:
    """State of charge, lithium inventory and degradation of one simulated cell.

    Parameters
    ----------
    params
        The cell's parameters (geometry and electrochemistry are used).
    rng
        Source of the voltage noise.
    """

    def __init__(self, params: CellParameters, rng: np.random.Generator) -> None:
        self.params = params
        self.chem = params.electrochemistry
        self.interface = params.interface
        if self.chem.cell_type not in ("full", "symmetric"):
            raise ValueError(
                f"cell_type must be 'full' or 'symmetric', got {self.chem.cell_type!r}"
            )
        self.rng = rng
        self.area_cm2 = params.geometry.area_cm2
        #: Capacity of the active material if all of it were reached, mAh.
        self.nominal_capacity_mAh = (
            self.chem.specific_capacity_mAh_g * params.geometry.active_mass_g
        )
        self.charge_mAh = 0.0
        self.anode_lithium_mAh = self.chem.n_to_p_ratio * self.nominal_capacity_mAh
        self.shorted = False
        #: Charge density plated above the CCD, relative to what a dendrite needs to cross.
        self.dendrite_progress = 0.0
        #: Charge density stripped beyond the creep supply, mAh/cm².
        self.voided_mAh_cm2 = 0.0
        self.hours_under_current = 0.0
        self.pressure_MPa = 1.0
        self.series_resistance_ohm = 0.0
        self.charge_transfer_resistance_ohm = 0.0
        self._polarisation_V = 0.0

    # -- conditions ------------------------------------------------------------------------
    def set_conditions(
        self,
        pressure_MPa: float,
        series_resistance_ohm: float,
        charge_transfer_resistance_ohm: float,
    ) -> None:
        """Apply a new stack pressure and the resistances the impedance model gives for it.

        ``charge_transfer_resistance_ohm`` is the electrode interfaces' (the spectrum's
        interface arc). Raising the pressure restores lost contact (resets the contact-loss
        growth and closes voids).
        """
        if pressure_MPa > self.pressure_MPa:
            self.hours_under_current = 0.0
            self.voided_mAh_cm2 = 0.0
        self.pressure_MPa = pressure_MPa
        self.series_resistance_ohm = series_resistance_ohm
        self.charge_transfer_resistance_ohm = charge_transfer_resistance_ohm
        self.charge_mAh = min(self.charge_mAh, self.accessible_capacity_mAh)

    @property
    def accessible_fraction(self) -> float:
        """Fraction of the nominal capacity reachable at the present pressure."""
        chem = self.chem
        low = chem.accessible_fraction_low_pressure_MPa
        high = chem.accessible_fraction_saturation_MPa
        x = math.log(max(self.pressure_MPa, 1e-3) / low) / math.log(high / low)
        x = min(max(x, 0.0), 1.0)
        return chem.accessible_fraction_at_low_pressure + x * (
            chem.accessible_fraction_saturated - chem.accessible_fraction_at_low_pressure
        )

    @property
    def accessible_capacity_mAh(self) -> float:
        """Capacity of the cathode reachable at the present pressure, mAh."""
        return self.nominal_capacity_mAh * self.accessible_fraction

    # -- voltages --------------------------------------------------------------------------
    @property
    def open_circuit_voltage_V(self) -> float:
        """Cell voltage at rest, V (0 for a symmetric cell)."""
        if self.chem.cell_type == "symmetric":
            return 0.0
        return (
            self._cathode_ocv(self.charge_mAh / self.accessible_capacity_mAh)
            - self._anode_depletion_V()
        )

    def _cathode_ocv(self, state_of_charge: float) -> float:
        chem = self.chem
        s = min(max(state_of_charge, 0.0), 1.0)
        span = chem.ocv_charged_V - chem.ocv_discharged_V
        # A sloped plateau between the two voltages, with ends that rise (fall) steeply by
        # OCV_EDGE_V within the last few per cent of charge, so cut-offs are always reached.
        return (
            chem.ocv_discharged_V
            + span * s
            - OCV_EDGE_V * math.exp(-s / OCV_EDGE_WIDTH)
            + OCV_EDGE_V * math.exp(-(1.0 - s) / OCV_EDGE_WIDTH)
        )

    def _anode_depletion_V(self) -> float:
        if math.isinf(self.anode_lithium_mAh):
            return 0.0
        reserve = max(self.anode_lithium_mAh, 1e-12 * self.nominal_capacity_mAh)
        return 0.05 * math.log1p(0.01 * self.nominal_capacity_mAh / reserve)

    @property
    def contact_fraction(self) -> float:
        """Fraction of a lithium interface still in contact (1 until voids form)."""
        return 1.0 / (1.0 + self.voided_mAh_cm2 / VOID_CHARGE_mAh_cm2)

    def _resistance_ohm(self) -> float:
        growth = 1.0 + self.interface.contact_loss_per_h * self.hours_under_current
        if self.chem.cell_type == "full":
            return self.series_resistance_ohm + growth * self.charge_transfer_resistance_ohm
        if self.shorted:
            return SHORT_RESISTANCE_OHM
        dendrite = 1.0 + self.dendrite_progress**2  # up to twice, then the short
        interface = self.charge_transfer_resistance_ohm / self.contact_fraction
        return self.series_resistance_ohm + growth * dendrite * interface

    def voltage_V(self, current_A: float) -> float:
        """Measured cell voltage under ``current_A`` (positive = charge / plating), V."""
        ohmic = current_A * (
            self.series_resistance_ohm if self.chem.cell_type == "full" else self._resistance_ohm()
        )
        return (
            self.open_circuit_voltage_V
            + ohmic
            + self._polarisation_V
            + self.rng.normal(0.0, VOLTAGE_NOISE_V)
        )

    # -- time evolution --------------------------------------------------------------------
    def step(self, current_A: float, dt_s: float) -> None:
        """Pass ``dt_s`` experiment seconds at ``current_A``."""
        charge = current_A * dt_s / 3.6  # mAh
        if self.chem.cell_type == "full":
            self._step_full(current_A, charge)
        else:
            self._step_symmetric(current_A, dt_s)
        if current_A:
            self.hours_under_current += dt_s / 3600.0
        target = (
            (current_A * self._resistance_ohm() - current_A * self.series_resistance_ohm)
            if self.chem.cell_type == "full"
            else 0.0
        )
        self._polarisation_V = target + (self._polarisation_V - target) * math.exp(
            -dt_s / POLARISATION_TAU_S
        )

    def _step_full(self, current_A: float, charge_mAh: float) -> None:
        chem = self.chem
        if charge_mAh > 0:  # charge: lithium leaves the cathode for the anode
            reversible = chem.coulombic_efficiency * charge_mAh
            self.charge_mAh = min(self.charge_mAh + reversible, self.accessible_capacity_mAh)
            self.anode_lithium_mAh += (1.0 - chem.lithium_loss_per_cycle) * reversible
        else:  # discharge: back from the anode into the cathode
            self.charge_mAh = max(self.charge_mAh + charge_mAh, 0.0)
            self.anode_lithium_mAh = max(self.anode_lithium_mAh + charge_mAh, 0.0)

    def _step_symmetric(self, current_A: float, dt_s: float) -> None:
        # Each half cycle plates one electrode and strips the other.
        density = abs(current_A) * 1e3 / self.area_cm2  # mA/cm²
        passed = density * dt_s / 3600.0  # mAh/cm²
        supply = self.interface.creep_supply_mA_cm2_per_MPa * self.pressure_MPa
        if density > supply:
            self.voided_mAh_cm2 += (density - supply) * dt_s / 3600.0
        local_density = density / self.contact_fraction
        if local_density > self.interface.critical_current_density_mA_cm2 and not self.shorted:
            self.dendrite_progress += passed / DENDRITE_CHARGE_mAh_cm2
            if self.dendrite_progress >= 1.0:
                self.shorted = True

    def rest(self, dt_s: float) -> float:
        """Rest at open circuit for ``dt_s`` experiment seconds; return the voltage, V."""
        self.step(0.0, dt_s)
        return self.voltage_V(0.0)


@dataclass(frozen=True)
class HalfCycleLimits:
    """What ends a galvanostatic half cycle, and how often it is recorded.

    Parameters
    ----------
    current_A
        Applied current, A (positive = charge / plating; 0 = rest at open circuit).
    upper_cutoff_V, lower_cutoff_V
        The half cycle ends when the voltage crosses either, V.
    max_duration_s
        Time limit, experiment seconds.
    max_capacity_mAh
        Capacity limit, mAh (``inf`` for none).
    record_interval_s
        Interval between recorded points, experiment seconds.
    compliance_voltage_V
        The instrument's output limit, V: a cell that would need more to carry the current
        (a blocked interface) holds the voltage at it, and the half cycle ends (``compliance``),
        as a potentiostat's output does.
    """

    current_A: float
    upper_cutoff_V: float
    lower_cutoff_V: float
    max_duration_s: float
    max_capacity_mAh: float
    record_interval_s: float
    compliance_voltage_V: float = math.inf


class HalfCycle:
    """One galvanostatic half cycle (or rest), advanced in experiment time.

    Parameters
    ----------
    cell
        The cell it runs on.
    limits
        Its current, cut-offs, time and capacity limits and record interval.
    max_points
        Most points the trace may hold (the instrument's buffer).

    Raises
    ------
    ValueError
        If the limits are inconsistent or the time limit at the record interval would
        overflow ``max_points``.
    """

    def __init__(
        self, cell: ElectrochemicalCell, limits: HalfCycleLimits, max_points: int
    ) -> None:
        if not limits.lower_cutoff_V < limits.upper_cutoff_V:
            raise ValueError(
                f"lower cut-off {limits.lower_cutoff_V} V must be below the "
                f"upper cut-off {limits.upper_cutoff_V} V"
            )
        if not (limits.record_interval_s > 0 and limits.max_duration_s > 0):
            raise ValueError("record interval and time limit must be positive")
        if limits.max_duration_s / limits.record_interval_s + 2 > max_points:
            raise ValueError(
                f"time limit {limits.max_duration_s:g} s at record interval "
                f"{limits.record_interval_s:g} s needs more than {max_points} points; "
                f"raise the record interval"
            )
        if not limits.max_capacity_mAh > 0:
            raise ValueError("capacity limit must be positive (inf for none)")
        self.cell = cell
        self.limits = limits
        self.elapsed_s = 0.0
        self.capacity_mAh = 0.0
        self.reason: str | None = None
        self._times = [0.0]
        self._voltages = [self._measured(cell.voltage_V(limits.current_A))]
        self._since_record_s = 0.0

    @property
    def done(self) -> bool:
        """Whether a cut-off or limit has ended the half cycle."""
        return self.reason is not None

    @property
    def time_s(self) -> np.ndarray:
        """Recorded times since the start, experiment seconds."""
        return np.asarray(self._times)

    @property
    def voltage_V(self) -> np.ndarray:
        """Recorded voltages, V."""
        return np.asarray(self._voltages)

    @property
    def current_A(self) -> np.ndarray:
        """Recorded currents, A."""
        return np.full(len(self._times), self.limits.current_A)

    def advance(self, dt_s: float) -> None:
        """Run for up to ``dt_s`` experiment seconds, stopping at the first limit reached."""
        limits = self.limits
        substep = limits.record_interval_s / SUBSTEPS_PER_RECORD
        remaining = dt_s
        while remaining > 0 and not self.done:
            dt = min(
                substep,
                remaining,
                limits.max_duration_s - self.elapsed_s,
                limits.record_interval_s - self._since_record_s,
            )
            if limits.current_A:
                dt = min(
                    dt, (limits.max_capacity_mAh - self.capacity_mAh) * 3.6 / abs(limits.current_A)
                )
            remaining -= dt
            self.cell.step(limits.current_A, dt)
            self.elapsed_s += dt
            self._since_record_s += dt
            self.capacity_mAh += abs(limits.current_A) * dt / 3.6
            voltage = self.cell.voltage_V(limits.current_A)
            self.reason = self._reason(voltage)
            voltage = self._measured(voltage)
            if self.done or self._since_record_s >= limits.record_interval_s - 1e-9:
                self._times.append(self.elapsed_s)
                self._voltages.append(voltage)
                self._since_record_s = 0.0

    def _measured(self, voltage_V: float) -> float:
        """What the instrument measures of the cell's voltage: no more than its output can
        reach (its compliance)."""
        compliance = self.limits.compliance_voltage_V
        return max(-compliance, min(voltage_V, compliance))

    def _reason(self, voltage_V: float) -> HalfCycleEnd | None:
        limits = self.limits
        if self.cell.shorted and limits.current_A:
            return HalfCycleEnd.SHORT_CIRCUIT
        if abs(voltage_V) >= limits.compliance_voltage_V and limits.current_A:
            return HalfCycleEnd.COMPLIANCE
        # Cut-offs apply in the direction the current drives the voltage; at rest, both.
        if voltage_V >= limits.upper_cutoff_V and limits.current_A >= 0:
            return HalfCycleEnd.UPPER_CUTOFF
        if voltage_V <= limits.lower_cutoff_V and limits.current_A <= 0:
            return HalfCycleEnd.LOWER_CUTOFF
        if self.capacity_mAh >= limits.max_capacity_mAh * (1 - 1e-9):
            return HalfCycleEnd.CAPACITY_LIMIT
        if self.elapsed_s >= limits.max_duration_s * (1 - 1e-9):
            return HalfCycleEnd.TIME_LIMIT
        return None
