"""What the simulated station really is at a pressure: the values an analysis should recover.

Keys and units are those of the demo's summary rows (`acq.demo.summary`), so a reader sees each
measured value beside its truth.
"""

from __future__ import annotations

from .cell import SimulatedCell
from .physics.clock import SimClock
from .physics.impedance import circuit_at
from .physics.microstructure import microstructure_at
from .physics.parameters import CellParameters


def truth_at(
    pressure_MPa: float, params: CellParameters, seed: int, reference_pressure_MPa: float
) -> dict[str, float]:
    """The simulated cell's true microstructure and properties at ``pressure_MPa``.

    Parameters
    ----------
    pressure_MPa
        Stack pressure, MPa.
    params
        The cell's parameters.
    seed
        The station's seed (the phantom's particles depend on it).
    reference_pressure_MPa
        Pressure the capacity ratio is relative to (the series' lowest), MPa.

    Returns
    -------
    dict
        ``porosity_electrode``, ``porosity_electrolyte``, ``contact_rate``,
        ``contact_anisotropy``, ``tortuosity_mode`` (measured on the phantom the detector
        images); ``conductivity_S_per_cm`` (apparent: separator thickness over
        (R0 + R_b + R_gb)·area, as `acq.analysis` computes it); ``R_ct_ohm``; and
        ``capacity_ratio``, the accessible capacity relative to that at
        ``reference_pressure_MPa`` (rate-independent: a measured discharge also loses
        capacity to polarisation).
    """
    cell = SimulatedCell(params, SimClock(), seed)
    cell.set_pressure(pressure_MPa)
    phantom = cell.phantom().truth
    micro = microstructure_at(pressure_MPa, params)
    circuit = circuit_at(micro, params)
    resistance = circuit.R0_ohm + circuit.R_b_ohm + circuit.R_gb_ohm
    accessible = cell.electrochemistry.accessible_fraction
    cell.set_pressure(reference_pressure_MPa)
    return {
        "porosity_electrode": phantom.porosity_electrode,
        "porosity_electrolyte": phantom.porosity_electrolyte,
        "contact_rate": phantom.contact_rate,
        "contact_anisotropy": phantom.contact_anisotropy,
        "tortuosity_mode": phantom.tortuosity_mode,
        "conductivity_S_per_cm": 1e-4
        * micro.electrolyte_thickness_um
        / (resistance * params.geometry.area_cm2),
        "R_ct_ohm": circuit.R_ct_ohm,
        "capacity_ratio": accessible / cell.electrochemistry.accessible_fraction,
    }
