"""Geometry of the cell stack: discs of one diameter pressed between two rods.

The electrode and electrolyte layers are discs of the same diameter; the stack pressure is
the load-cell force over the disc area (docs/science.md, "The cell").
"""

from __future__ import annotations

import math


def disc_area_mm2(diameter_mm: float) -> float:
    """Area of a disc of ``diameter_mm``, mm²."""
    return math.pi * (diameter_mm / 2.0) ** 2


def disc_area_cm2(diameter_mm: float) -> float:
    """Area of a disc of ``diameter_mm``, cm²."""
    return 1e-2 * disc_area_mm2(diameter_mm)


def active_mass_g(electrode_mass_mg: float, active_mass_fraction: float) -> float:
    """Mass of active material in a composite electrode, g."""
    return 1e-3 * electrode_mass_mg * active_mass_fraction


def interfaces_in_series(cell_type: str) -> int:
    """Electrode | electrolyte interfaces in the interface arc and the interfacial
    overpotential: two identical ones in a symmetric cell, the composite cathode's in a full
    cell (an In-Li anode's is negligible)."""
    return 2 if cell_type == "symmetric" else 1


def layer_thickness_um(
    mass_mg: float, solid_density_g_cm3: float, porosity: float, area_cm2: float
) -> float:
    """Thickness of a layer of given mass, pore-free density and porosity, µm."""
    volume_cm3 = 1e-3 * mass_mg / (solid_density_g_cm3 * (1.0 - porosity))
    return 1e4 * volume_cm3 / area_cm2


def layer_mass_mg(
    thickness_um: float, solid_density_g_cm3: float, porosity: float, area_cm2: float
) -> float:
    """Mass of a layer of given thickness, pore-free density and porosity, mg (the inverse
    of `layer_thickness_um`)."""
    volume_cm3 = 1e-4 * thickness_um * area_cm2
    return 1e3 * volume_cm3 * solid_density_g_cm3 * (1.0 - porosity)


def max_pressure_MPa(rating_MPa: float, load_cell_range_N: float, diameter_mm: float) -> float:
    """The highest stack pressure a press may set: the lower of the cell's rating and the
    load cell's full scale over the disc area, MPa (N/mm²)."""
    return min(rating_MPa, load_cell_range_N / disc_area_mm2(diameter_mm))
