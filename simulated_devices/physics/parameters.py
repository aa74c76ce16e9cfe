"""Parameters of the simulated cell, grouped by the model that uses them.

`CellParameters` is the one object a simulation is built from. Its defaults describe the
In-Li | LGPS | NCM111-composite cell of the stack-pressure study (docs/science.md); another cell
(a garnet symmetric cell, a limited-lithium LFP cell) is another parameter set, built with
`CellParameters.from_mapping` from the ``[simulation]`` table of a station config.
Values the source papers leave out are marked *(assumed)*.

Nothing here imports the rest of the project or EPICS.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conventions.cell_geometry import active_mass_g, disc_area_cm2, interfaces_in_series


@dataclass(frozen=True)
class GeometryParameters:
    """Size and loading of the cell stack.

    Layer thicknesses follow from the masses, the solid densities and the porosity at the
    applied pressure (`microstructure_at`), except a sintered separator's: a ceramic pellet
    does not compact under a stack pressure, so ``electrolyte_thickness_um`` and
    ``electrolyte_relative_density`` give it directly (both, or neither).
    """

    diameter_mm: float = 1.0
    #: Mass of the composite cathode layer (NCM : LGPS : carbon = 1 : 1 : 0.1), mg (0 for a
    #: symmetric cell, which has none).
    electrode_mass_mg: float = 1.0
    #: Mass of the separator (electrolyte) layer, mg (of a sintered pellet: from its thickness
    #: and density when not given).
    electrolyte_mass_mg: float = 2.5
    #: Mass fraction of active material in the composite electrode.
    active_mass_fraction: float = 1.0 / 2.1
    #: Mean solid density of the composite electrode, g/cm³ (NCM 4.75, LGPS 2.0, C 1.9).
    electrode_solid_density_g_cm3: float = 2.85
    #: Solid density of the electrolyte, g/cm³ (LGPS).
    electrolyte_solid_density_g_cm3: float = 2.0
    #: Thickness of a sintered separator pellet, µm (nan: a pressed powder layer).
    electrolyte_thickness_um: float = math.nan
    #: Density of a sintered separator relative to the solid's (1 − porosity; nan: pressed).
    electrolyte_relative_density: float = math.nan
    temperature_K: float = 298.15

    def __post_init__(self) -> None:
        if math.isnan(self.electrolyte_thickness_um) != math.isnan(
            self.electrolyte_relative_density
        ):
            raise ValueError(
                "a sintered separator needs both simulation.parameters.geometry."
                "electrolyte_thickness_um and simulation.parameters.geometry."
                "electrolyte_relative_density (or neither)"
            )

    @property
    def sintered(self) -> bool:
        """Whether the separator is a sintered pellet of fixed thickness and density."""
        return not math.isnan(self.electrolyte_thickness_um)

    @property
    def area_cm2(self) -> float:
        """Electrode area, cm²."""
        return disc_area_cm2(self.diameter_mm)

    @property
    def active_mass_g(self) -> float:
        """Mass of active material, g."""
        return active_mass_g(self.electrode_mass_mg, self.active_mass_fraction)


@dataclass(frozen=True)
class CompactionParameters:
    """Two-stage densification of the electrode and electrolyte layers.

    Stage 1 (up to ``transition_pressure_MPa``): particle rearrangement, both layers share the
    electrode's porosity; the active-material volume fraction rises while the visible
    electrolyte fraction falls. Stage 2: the soft electrolyte deforms plastically. The
    electrolyte layer follows Heckel's law ln(1/ε) = K·P + A through the two anchor points; the
    electrode's rigid active-material skeleton makes its porosity level off:
    ε(P) = ε_∞ + (ε_0 − ε_∞)·exp(−P / P_c), while its voids fill with electrolyte.
    """

    porosity_uncompressed: float = 0.45  # (assumed)
    electrode_porosity_limit: float = 0.228
    electrode_compaction_pressure_MPa: float = 20.0  # (assumed)
    transition_pressure_MPa: float = 12.0
    electrolyte_porosity_at_reference: float = 0.05
    reference_pressure_MPa: float = 100.0
    #: Active-material volume fraction of the electrode at zero and at the transition pressure.
    active_fraction_uncompressed: float = 0.30  # (assumed)
    active_fraction_at_transition: float = 0.42  # (assumed)

    def __post_init__(self) -> None:
        at_transition = self.electrode_porosity_limit + (
            self.porosity_uncompressed - self.electrode_porosity_limit
        ) * math.exp(-self.transition_pressure_MPa / self.electrode_compaction_pressure_MPa)
        for ordered, why in (
            (
                self.electrode_porosity_limit < self.porosity_uncompressed,
                "electrode_porosity_limit must be below porosity_uncompressed",
            ),
            (
                self.transition_pressure_MPa < self.reference_pressure_MPa,
                "transition_pressure_MPa must be below reference_pressure_MPa",
            ),
            (
                self.electrolyte_porosity_at_reference < at_transition,
                f"electrolyte_porosity_at_reference must be below the porosity at the "
                f"transition pressure ({at_transition:.3g}): the layer densifies",
            ),
            (
                self.active_fraction_uncompressed + self.porosity_uncompressed <= 1
                and self.active_fraction_at_transition + at_transition <= 1,
                "active_fraction_uncompressed (and _at_transition) plus the porosity must not "
                "exceed 1",
            ),
        ):
            if not ordered:
                raise ValueError(f"simulation.parameters.compaction: {why}")


@dataclass(frozen=True)
class ContactParameters:
    """Active-material/electrolyte contact, resolved by CT and unresolved (asperities).

    The CT-resolved contact rate (contact area / active-material surface) rises smoothly from
    ``contact_rate_low`` at or below ``contact_rise_start_MPa`` to ``contact_rate_high`` at or
    above ``contact_rise_end_MPa``. The ratio of contact on faces normal to the pressing axis
    (z) to contact on faces normal to x/y is ``contact_anisotropy``. The unresolved real contact
    area of rough surfaces grows in proportion to load (Greenwood–Williamson), normalised to 1
    at ``reference_pressure_MPa``.
    """

    contact_rate_low: float = 0.60  # (assumed level; the +10 % rise is the paper's)
    contact_rate_high: float = 0.66
    contact_rise_start_MPa: float = 12.0
    contact_rise_end_MPa: float = 50.0
    contact_anisotropy: float = 1.35  # (assumed)
    asperity_exponent: float = 1.0
    reference_pressure_MPa: float = 100.0

    def __post_init__(self) -> None:
        if not self.contact_rise_start_MPa < self.contact_rise_end_MPa:
            raise ValueError(
                "simulation.parameters.contact: contact_rise_start_MPa must be below "
                "contact_rise_end_MPa"
            )


@dataclass(frozen=True)
class TortuosityParameters:
    """Geometric tortuosity of the electrolyte path through the electrode along z.

    The mode follows τ(P) = τ_opt + k·ln(P / P_opt)²: it falls with pressure, is lowest at
    ``optimum_pressure_MPa`` and rises again (with a wider spread) above it, as the voids
    flatten into sheets normal to the pressing axis.
    """

    mode_at_optimum: float = 1.35  # (assumed)
    curvature: float = 0.10  # (assumed)
    optimum_pressure_MPa: float = 50.0  # (assumed)
    #: Ratio (height / width) of electrolyte-layer voids at the lowest and highest pressures.
    void_aspect_low_pressure: float = 1.0  # (assumed)
    void_aspect_high_pressure: float = 0.35  # (assumed)


@dataclass(frozen=True)
class CircuitParameters:
    """Equivalent circuit R0 + (R_b‖CPE_b) + (R_gb‖CPE_gb) + (R_int‖CPE_int) + W.

    R_b follows from the electrolyte layer: σ_bulk·(1−ε)^1.5 (Bruggeman) over its thickness.
    R_gb (grain-to-grain constriction) scales with the unresolved contact area, i.e. ∝ 1/P,
    from its value at the reference pressure; R_int and CPE_int are the interface's
    (`InterfaceParameters`). Conductivities and resistances follow Arrhenius laws in
    temperature.
    """

    series_resistance_ohm: float = 5.0  # leads and current collectors (assumed)
    bulk_conductivity_S_cm: float = 1.2e-2  # LGPS at 298 K
    bulk_activation_energy_eV: float = 0.25
    bulk_cpe_Q: float = 2.0e-12  # F·s^(n−1) (assumed)
    bulk_cpe_n: float = 0.95
    #: Grain-boundary ASR of the electrolyte layer at the reference pressure, Ω·cm².
    grain_boundary_asr_ohm_cm2: float = 30.0  # (assumed)
    grain_boundary_activation_energy_eV: float = 0.35  # (assumed)
    grain_boundary_cpe_Q: float = 5.0e-10
    grain_boundary_cpe_n: float = 0.90
    #: Warburg coefficient at the reference pressure, Ω·s^−½ (assumed).
    warburg_sigma_ohm_s05: float = 2.0e4
    reference_pressure_MPa: float = 100.0
    #: Exponent of the grain-boundary and Warburg scaling with pressure (1 = ∝ 1/P).
    pressure_exponent: float = 1.0
    reference_temperature_K: float = 298.15


@dataclass(frozen=True)
class InterfaceParameters:
    """The electrode | electrolyte interface: one description for EIS and polarisation.

    Its resistance is both the interface arc of the impedance spectrum (R_int‖CPE_int) and the
    interfacial overpotential under current. A full cell counts one interface (the composite
    cathode's; an In-Li anode's is negligible), a symmetric Li | SSE | Li cell two identical
    ones. The ASR of one interface goes with the real contact area as
    (P / ``reference_pressure_MPa``)^−``pressure_exponent`` and with temperature by Arrhenius.

    Lithium-metal interfaces (symmetric cells) fail by two physical criteria:

    * **dendrite onset**: while the local plating current density (the applied one over the
      fraction of the interface still in contact) exceeds ``critical_current_density_mA_cm2``,
      a lithium filament grows and, once `DENDRITE_CHARGE_mAh_cm2` has passed above it, shorts
      the cell; below it nothing grows;
    * **void formation** (contact loss): lithium creep refills the stripped interface at up to
      ``creep_supply_mA_cm2_per_MPa`` × the stack pressure; a faster stripping current leaves
      voids, the contact fraction falls as 1 / (1 + voided charge / `VOID_CHARGE_mAh_cm2`) and
      the interface resistance rises as its inverse. Raising the pressure closes the voids.

    ``contact_loss_per_h`` adds the slow, reversible polarisation rise seen over hundreds of
    hours (relative rise per hour under current; reset by raising the pressure).
    """

    #: ASR of one interface at the reference pressure and temperature, Ω·cm².
    asr_ohm_cm2: float = 100.0  # (assumed)
    reference_pressure_MPa: float = 100.0
    #: Exponent of the ASR's scaling with pressure (1 = ∝ 1/P, 0 = independent of it).
    pressure_exponent: float = 1.0
    activation_energy_eV: float = 0.45  # (assumed)
    #: Double-layer CPE of one interface, F·s^(n−1) per cm² (assumed), and its exponent.
    cpe_Q: float = 1.0e-6
    cpe_n: float = 0.85
    #: Lithium-metal interfaces: plating current density above which a dendrite grows, mA/cm².
    critical_current_density_mA_cm2: float = 1.2
    #: Lithium-metal interfaces: stripping current density that creep refills per MPa of stack
    #: pressure, mA/cm² per MPa (inf: voids never form).
    creep_supply_mA_cm2_per_MPa: float = math.inf
    #: Relative rise of the interface resistance per hour under current (assumed, slow).
    contact_loss_per_h: float = 0.0


@dataclass(frozen=True)
class ElectrochemistryParameters:
    """Galvanostatic behaviour of the cell (`electrochemistry.py`)."""

    #: "full" (cathode vs anode) or "symmetric" (Li | SSE | Li plating/stripping).
    cell_type: str = "full"
    #: Specific capacity of the active material at the best contact, mAh/g (NCM111).
    specific_capacity_mAh_g: float = 150.0
    #: Accessible fraction at the lowest pressure and its logarithmic rise, saturating above.
    accessible_fraction_at_low_pressure: float = 0.70  # (assumed)
    accessible_fraction_low_pressure_MPa: float = 6.0
    accessible_fraction_saturation_MPa: float = 50.0
    accessible_fraction_saturated: float = 0.95  # (assumed)
    #: Open-circuit voltage of the cathode against the anode at the two ends of charge, V.
    #: NCM vs In-Li: 2.8–4.3 V vs Li minus 0.62 V.
    ocv_discharged_V: float = 3.0
    ocv_charged_V: float = 3.75
    coulombic_efficiency: float = 0.995
    #: Lithium inventory of the anode relative to the cathode capacity (N/P); inf = unlimited.
    n_to_p_ratio: float = math.inf
    #: Fraction of the lithium plated on each charge that is lost as dead lithium: the
    #: inventory lasts about N/P × nominal capacity / (this × capacity charged per cycle)
    #: cycles, then capacity falls at a knee.
    lithium_loss_per_cycle: float = 0.04


@dataclass(frozen=True)
class ImagingParameters:
    """Phantom and X-ray projection (`phantom.py`, `projection.py`)."""

    voxel_size_um: float = 1.0
    #: Diameter of the imaged cylinder, voxels (= detector width).
    diameter_voxels: int = 256
    electrode_slices: int = 48
    electrolyte_slices: int = 16
    particle_diameter_um: float = 10.0
    particle_diameter_spread: float = 0.2  # relative standard deviation (assumed)
    beam_energy_keV: float = 20.0
    #: Linear attenuation at ``reference_energy_keV``, 1/cm; scaled as E^−3 (photoelectric).
    attenuation_active_per_cm: float = 90.0  # NCM111 at 20 keV (assumed)
    attenuation_electrolyte_per_cm: float = 30.0  # LGPS at 20 keV (assumed)
    attenuation_void_per_cm: float = 0.0
    reference_energy_keV: float = 20.0
    flat_field_photons: float = 2.0e4
    dark_counts: float = 100.0
    #: Relative column-to-column gain variation of the flat field.
    flat_field_nonuniformity: float = 0.05
    #: Longest edge of the voxel phantom, voxels: a larger detector sees a phantom of coarser
    #: voxels (a whole number of pixels each), its projections interpolated to the pixels
    #: (`phantom.phantom_imaging`), so a 2048² frame needs no 2048³ volume.
    max_phantom_voxels: int = 256


@dataclass(frozen=True)
class CellParameters:
    """Every parameter of a simulated cell: one object, one source of defaults."""

    geometry: GeometryParameters = field(default_factory=GeometryParameters)
    compaction: CompactionParameters = field(default_factory=CompactionParameters)
    contact: ContactParameters = field(default_factory=ContactParameters)
    tortuosity: TortuosityParameters = field(default_factory=TortuosityParameters)
    circuit: CircuitParameters = field(default_factory=CircuitParameters)
    interface: InterfaceParameters = field(default_factory=InterfaceParameters)
    electrochemistry: ElectrochemistryParameters = field(
        default_factory=ElectrochemistryParameters
    )
    imaging: ImagingParameters = field(default_factory=ImagingParameters)

    def __post_init__(self) -> None:
        geometry = self.geometry
        if self.electrochemistry.cell_type == "full" and not (
            geometry.electrode_mass_mg > 0 and geometry.active_mass_fraction > 0
        ):
            raise ValueError(
                "a full cell needs a cathode: simulation.parameters.geometry.electrode_mass_mg "
                "and active_mass_fraction must be positive"
            )

    @property
    def interfaces(self) -> int:
        """Interfaces in series in the interface arc and the overpotential
        (`conventions.cell_geometry.interfaces_in_series`)."""
        return interfaces_in_series(self.electrochemistry.cell_type)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> CellParameters:
        """Build from nested tables such as ``{"circuit": {"bulk_conductivity_S_cm": 4e-4}}``.

        Parameters
        ----------
        values
            Tables named after the fields of this class; each holds the fields of its group to
            override. Omitted fields keep their defaults.

        Raises
        ------
        ValueError
            On an unknown group or field, or a value of the wrong type, naming it.
        """
        groups = {f.name: f for f in dataclasses.fields(cls)}
        overrides: dict[str, Any] = {}
        for group_name, group_values in values.items():
            if group_name not in groups:
                raise ValueError(
                    f"unknown simulation parameter group {group_name!r}; "
                    f"expected one of {sorted(groups)}"
                )
            default = groups[group_name].default_factory()  # type: ignore[operator]
            if not isinstance(group_values, Mapping):
                raise ValueError(f"simulation.parameters.{group_name} must be a table")
            overrides[group_name] = _replace_checked(default, group_values, group_name)
        return cls(**overrides)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Nested plain-Python copy, suitable for run metadata and `from_mapping` (inf becomes
        a string; a value not given, NaN, is left out)."""
        return {
            name: {
                key: (str(value) if isinstance(value, float) and math.isinf(value) else value)
                for key, value in dataclasses.asdict(getattr(self, name)).items()
                if not (isinstance(value, float) and math.isnan(value))
            }
            for name in (f.name for f in dataclasses.fields(self))
        }


#: Parameters that are fractions of a whole, in [0, 1].
FRACTIONS = frozenset(
    {
        "active_mass_fraction",
        "active_fraction_uncompressed",
        "active_fraction_at_transition",
        "contact_rate_low",
        "contact_rate_high",
        "lithium_loss_per_cycle",
        "electrolyte_relative_density",
        "flat_field_nonuniformity",
    }
)
#: Porosities, in (0, 1): the compaction laws take their logarithms.
POROSITIES = frozenset(
    {"porosity_uncompressed", "electrode_porosity_limit", "electrolyte_porosity_at_reference"}
)
#: Parameters in (0, 1]: an efficiency, a CPE's exponent.
UP_TO_ONE = frozenset(
    {
        "coulombic_efficiency",
        "bulk_cpe_n",
        "grain_boundary_cpe_n",
        "cpe_n",
    }
)
#: Parameters that may be 0 (none of it) but not below.
NON_NEGATIVE = frozenset(
    {
        "series_resistance_ohm",
        "grain_boundary_asr_ohm_cm2",
        "warburg_sigma_ohm_s05",
        "dark_counts",
        "attenuation_void_per_cm",
        "contact_loss_per_h",
        "bulk_activation_energy_eV",
        "grain_boundary_activation_energy_eV",
        "activation_energy_eV",
        "electrode_mass_mg",
        "particle_diameter_spread",
    }
)
#: Parameters any finite value of which is physical (voltages, a curvature).
ANY_FINITE = frozenset({"ocv_discharged_V", "ocv_charged_V", "curvature"})
#: Parameters that may be infinite (``"inf"``: unlimited).
MAY_BE_INFINITE = frozenset({"n_to_p_ratio", "creep_supply_mA_cm2_per_MPa"})
#: Parameters with a physical range of their own, [low, high] (an exponent of a contact law,
#: a cell's temperature, an ionic conductivity): beyond it the laws under- or overflow.
BOUNDED = {
    "pressure_exponent": (0.0, 3.0),
    "asperity_exponent": (0.0, 3.0),
    "temperature_K": (150.0, 1000.0),
    "reference_temperature_K": (150.0, 1000.0),
    "bulk_conductivity_S_cm": (1e-12, 1e3),
    # Of the capacity: a cell that reaches less than 1 % of it is not cycled.
    "accessible_fraction_at_low_pressure": (0.01, 1.0),
    "accessible_fraction_saturated": (0.01, 1.0),
}
#: Every other number must be > 0 (a size, mass, density, pressure, rate...).

#: Units by the end of a parameter's name.
_UNITS = (
    ("_ohm_cm2", "Ω·cm²"),
    ("_ohm_s05", "Ω·s^-1/2"),
    ("_ohm", "Ω"),
    ("_S_cm", "S/cm"),
    ("_g_cm3", "g/cm³"),
    ("_mAh_g", "mAh/g"),
    ("_mA_cm2_per_MPa", "mA/cm² per MPa"),
    ("_mA_cm2", "mA/cm²"),
    ("_keV", "keV"),
    ("_eV", "eV"),
    ("_MPa", "MPa"),
    ("_per_cm", "1/cm"),
    ("_per_h", "1/h"),
    ("_mm", "mm"),
    ("_mg", "mg"),
    ("_um", "µm"),
    ("_K", "K"),
    ("_V", "V"),
)


def physical_range_refusal(name: str, value: float | int) -> str | None:
    """Why ``value`` is not physical for the parameter ``name`` (None if it is), its unit
    named."""
    unit = next((f" {unit}" for suffix, unit in _UNITS if name.endswith(suffix)), "")
    if math.isnan(value) or (math.isinf(value) and name not in MAY_BE_INFINITE):
        return f"must be a finite number{unit}"
    if name in ANY_FINITE:
        return None
    if name in BOUNDED:
        low, high = BOUNDED[name]
        return None if low <= value <= high else f"must be in [{low:g}, {high:g}]{unit}"
    if name in FRACTIONS:
        return None if 0 <= value <= 1 else "must be a fraction, in [0, 1]"
    if name in POROSITIES:
        return None if 0 < value < 1 else "must be a porosity, in (0, 1)"
    if name in UP_TO_ONE:
        return None if 0 < value <= 1 else "must be in (0, 1]"
    if name in NON_NEGATIVE:
        return None if value >= 0 else f"cannot be negative (in{unit or ' its unit'})"
    return None if value > 0 else f"must be positive{f' (in{unit})' if unit else ''}"


def _replace_checked(default: Any, values: Mapping[str, Any], group_name: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(default)}
    for key, value in values.items():
        if key not in known:
            raise ValueError(
                f"unknown parameter simulation.parameters.{group_name}.{key}; expected one of "
                f"{sorted(known)}"
            )
        expected = type(getattr(default, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if expected is float and value == "inf":
            continue
        if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise ValueError(
                f"simulation.parameters.{group_name}.{key} must be {expected.__name__}, got "
                f"{value!r}"
            )
    converted = {
        key: (float(value) if type(getattr(default, key)) is float else value)
        for key, value in values.items()
    }
    for key, value in converted.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            why = physical_range_refusal(key, value)
            if why is not None:
                raise ValueError(
                    f"simulation.parameters.{group_name}.{key} = {values[key]!r}: {why}"
                )
    return dataclasses.replace(default, **converted)
