"""Stack pressure → microstructure of the composite electrode and the electrolyte layer.

Closed-form laws (docs/science.md) that give the *targets* the phantom generator builds to and
the quantities the impedance model needs. The phantom's own measured values, not these
targets, are the truth a CT analysis is checked against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from conventions.cell_geometry import layer_thickness_um

from .parameters import CellParameters, CompactionParameters, ContactParameters


@dataclass(frozen=True)
class Microstructure:
    """State of the cell stack at one stack pressure.

    Volume fractions are of the whole layer volume (0–1) and sum to 1 within a layer. A
    sintered separator (`GeometryParameters.sintered`) keeps its thickness and porosity.
    """

    pressure_MPa: float
    porosity_electrode: float
    porosity_electrolyte: float
    active_fraction_electrode: float
    electrolyte_fraction_electrode: float
    #: CT-resolved contact area / active-material surface.
    contact_rate: float
    #: Contact rate on faces normal to z divided by that on faces normal to x/y.
    contact_anisotropy: float
    #: Mode of the geometric tortuosity of the electrolyte path through the electrode.
    tortuosity_mode: float
    #: Unresolved (asperity) contact area relative to the reference pressure.
    asperity_contact: float
    #: Height / width of the voids (1 = round, < 1 = sheets normal to z).
    void_aspect: float
    electrode_thickness_um: float
    electrolyte_thickness_um: float


def electrode_porosity(pressure_MPa: float, law: CompactionParameters) -> float:
    """Porosity of the composite electrode, levelling off at high pressure."""
    return law.electrode_porosity_limit + (
        law.porosity_uncompressed - law.electrode_porosity_limit
    ) * math.exp(-pressure_MPa / law.electrode_compaction_pressure_MPa)


def electrolyte_porosity(pressure_MPa: float, law: CompactionParameters) -> float:
    """Porosity of the electrolyte layer: the electrode's in stage 1, Heckel's law above."""
    at_transition = electrode_porosity(law.transition_pressure_MPa, law)
    if pressure_MPa <= law.transition_pressure_MPa:
        return electrode_porosity(pressure_MPa, law)
    heckel_k = (
        math.log(1.0 / law.electrolyte_porosity_at_reference) - math.log(1.0 / at_transition)
    ) / (law.reference_pressure_MPa - law.transition_pressure_MPa)
    return at_transition * math.exp(-heckel_k * (pressure_MPa - law.transition_pressure_MPa))


def active_fraction(pressure_MPa: float, law: CompactionParameters) -> float:
    """Active-material volume fraction: rises through stage 1, then held by the skeleton."""
    progress = min(pressure_MPa, law.transition_pressure_MPa) / law.transition_pressure_MPa
    return law.active_fraction_uncompressed + progress * (
        law.active_fraction_at_transition - law.active_fraction_uncompressed
    )


def contact_rate(pressure_MPa: float, law: ContactParameters) -> float:
    """CT-resolved contact rate: flat, a smooth rise between two pressures, flat again."""
    span = law.contact_rise_end_MPa - law.contact_rise_start_MPa
    x = min(max((pressure_MPa - law.contact_rise_start_MPa) / span, 0.0), 1.0)
    smooth = x * x * (3.0 - 2.0 * x)
    return law.contact_rate_low + smooth * (law.contact_rate_high - law.contact_rate_low)


def asperity_contact(pressure_MPa: float, law: ContactParameters) -> float:
    """Unresolved real contact area, ∝ P^m, 1 at the reference pressure."""
    return (pressure_MPa / law.reference_pressure_MPa) ** law.asperity_exponent


def microstructure_at(pressure_MPa: float, params: CellParameters) -> Microstructure:
    """Microstructure of the cell stack at a stack pressure.

    Parameters
    ----------
    pressure_MPa
        Stack pressure, MPa; must be positive.
    params
        The cell's parameters.

    Raises
    ------
    ValueError
        If the pressure is not a positive finite number.
    """
    if not (math.isfinite(pressure_MPa) and pressure_MPa > 0):
        raise ValueError(f"stack pressure must be positive and finite, got {pressure_MPa!r} MPa")
    law = params.compaction
    geometry = params.geometry
    porosity_e = electrode_porosity(pressure_MPa, law)
    if geometry.sintered:  # a ceramic pellet: no compaction at a stack pressure
        porosity_s = 1.0 - geometry.electrolyte_relative_density
        thickness_s = geometry.electrolyte_thickness_um
    else:
        porosity_s = electrolyte_porosity(pressure_MPa, law)
        thickness_s = layer_thickness_um(
            geometry.electrolyte_mass_mg,
            geometry.electrolyte_solid_density_g_cm3,
            porosity_s,
            geometry.area_cm2,
        )
    active = active_fraction(pressure_MPa, law)
    tort = params.tortuosity
    high_p = min(max(math.log(pressure_MPa / tort.optimum_pressure_MPa) / math.log(2.0), 0.0), 1.0)
    void_aspect = tort.void_aspect_low_pressure + high_p * (
        tort.void_aspect_high_pressure - tort.void_aspect_low_pressure
    )
    return Microstructure(
        pressure_MPa=pressure_MPa,
        porosity_electrode=porosity_e,
        porosity_electrolyte=porosity_s,
        active_fraction_electrode=active,
        electrolyte_fraction_electrode=1.0 - porosity_e - active,
        contact_rate=contact_rate(pressure_MPa, params.contact),
        contact_anisotropy=params.contact.contact_anisotropy,
        tortuosity_mode=tort.mode_at_optimum
        + tort.curvature * math.log(pressure_MPa / tort.optimum_pressure_MPa) ** 2,
        asperity_contact=asperity_contact(pressure_MPa, params.contact),
        void_aspect=void_aspect,
        electrode_thickness_um=layer_thickness_um(
            geometry.electrode_mass_mg,
            geometry.electrode_solid_density_g_cm3,
            porosity_e,
            geometry.area_cm2,
        ),
        electrolyte_thickness_um=thickness_s,
    )
