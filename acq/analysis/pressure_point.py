"""Everything measured at one stack pressure, analysed: the EIS fit, the CT microstructure,
the cycling metrics, and the summary row that joins them.

`PressurePointAnalysis` accumulates what a raw run holds — spectra as they arrive, half cycles
as they end, the CT frames once written — and turns it into the streams of an analysis run
(`acq.analysis.results`). The live callback (`acq.analysis.live`) feeds it from documents;
replay feeds it from a run read back from Tiled. Both give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conventions.cell_geometry import (
    active_mass_g,
    interfaces_in_series,
    layer_mass_mg,
    layer_thickness_um,
)
from conventions.impedance import DEFAULT_CIRCUIT

from .ct import CTAnalysis, analyse_ct
from .cycling import (
    FullCellFailure,
    HalfCycle,
    SymmetricCellFailure,
    classify_full_cell_failure,
    classify_symmetric_failure,
    cycle_metrics,
    pair_cycles,
    retention_summary,
)
from .eis_fit import EISFit, Estimate, fit_spectrum
from .raw_run import ct_frames, half_cycles, spectra

#: Resistances summed into the electrolyte's (leads + bulk + grain boundaries): the sum is
#: determined even where its terms are not (a bulk arc above the frequency window).
ELECTROLYTE_RESISTANCES = ("R0_ohm", "R_b_ohm", "R_gb_ohm")


@dataclass(frozen=True)
class CellGeometry:
    """What the analysis needs to know about the cell (from the start document's ``cell``).

    Attributes
    ----------
    area_cm2
        Electrode area, cm².
    active_mass_g
        Active-material mass, g (0 for a symmetric cell).
    electrolyte_mass_mg
        Separator (electrolyte layer) mass, mg.
    electrolyte_solid_density_g_cm3
        Pore-free density of the electrolyte, g/cm³ (None in runs recorded before it was in
        the config: no separator thickness, so no conductivity).
    cell_type
        ``full`` or ``symmetric``.
    electrolyte_thickness_um
        A sintered separator's thickness, µm (None: a pressed layer, whose thickness follows
        from its mass and porosity).
    """

    area_cm2: float
    active_mass_g: float
    electrolyte_mass_mg: float
    electrolyte_solid_density_g_cm3: float | None
    cell_type: str = "full"
    electrolyte_thickness_um: float | None = None

    @classmethod
    def from_start(cls, start: Mapping[str, Any]) -> CellGeometry:
        """From a start document written by this package's RunEngine (``start['cell']``)."""
        cell = start["cell"]
        thickness_um = cell.get("electrolyte_thickness_um")
        if thickness_um is None:  # a pressed layer, described by its mass
            electrolyte_mass_mg = cell["electrolyte_mass_mg"]
        else:  # a sintered pellet: its mass from its geometry
            electrolyte_mass_mg = layer_mass_mg(
                thickness_um,
                cell["electrolyte_solid_density_g_cm3"],
                1.0 - cell["electrolyte_relative_density"],
                cell["area_cm2"],
            )
        return cls(
            area_cm2=cell["area_cm2"],
            active_mass_g=(
                cell["active_mass_g"]  # recorded since symmetric cells have no cathode keys
                if "active_mass_g" in cell
                else active_mass_g(cell["electrode_mass_mg"], cell["active_mass_fraction"])
            ),
            electrolyte_mass_mg=electrolyte_mass_mg,
            electrolyte_solid_density_g_cm3=cell.get("electrolyte_solid_density_g_cm3"),
            cell_type=cell.get("cell_type", "full"),
            electrolyte_thickness_um=thickness_um,
        )

    @property
    def interfaces(self) -> int:
        """Electrode/electrolyte interfaces in the charge-transfer arc
        (`conventions.cell_geometry.interfaces_in_series`)."""
        return interfaces_in_series(self.cell_type)

    def separator_thickness_cm(self, porosity: float) -> float:
        """Thickness of the separator at ``porosity`` (from its mass and density; a sintered
        pellet's as given), cm."""
        if self.electrolyte_thickness_um is not None:
            return 1e-4 * self.electrolyte_thickness_um
        if self.electrolyte_solid_density_g_cm3 is None:
            return math.nan
        return 1e-4 * layer_thickness_um(
            self.electrolyte_mass_mg, self.electrolyte_solid_density_g_cm3, porosity, self.area_cm2
        )


@dataclass
class PressurePointAnalysis:
    """Accumulates and analyses one pressure point's measurements.

    Parameters
    ----------
    geometry
        The cell.
    pressure_MPa
        Stack pressure of the run (nominal), MPa.
    circuit
        Equivalent circuit the spectra are fitted to (`acq.analysis.eis_fit`).
    """

    geometry: CellGeometry
    pressure_MPa: float
    circuit: str = DEFAULT_CIRCUIT
    #: A critical-current-density staircase's density of each step, mA/cm² (None for
    #: other runs).
    current_densities_mA_cm2: tuple[float, ...] | None = None
    spectra: list[EISFit] = field(default_factory=list)
    half_cycles: list[HalfCycle] = field(default_factory=list)
    ct: CTAnalysis | None = None

    @classmethod
    def from_start(cls, start: Mapping[str, Any], circuit: str) -> PressurePointAnalysis:
        """For the run of ``start`` (a start document written by this package's RunEngine:
        its ``cell``, ``pressure_MPa`` and a CCD's ``technique.current_densities_mA_cm2``)."""
        densities = start.get("technique", {}).get("current_densities_mA_cm2")
        return cls(
            CellGeometry.from_start(start),
            float(start.get("pressure_MPa", math.nan)),
            circuit,
            tuple(densities) if densities is not None else None,
        )

    def add_spectrum(
        self, frequency_Hz: np.ndarray, z_real_ohm: np.ndarray, z_imag_ohm: np.ndarray
    ) -> EISFit:
        """Fit one spectrum (as it arrives); returns the fit."""
        result = fit_spectrum(frequency_Hz, z_real_ohm, z_imag_ohm, circuit=self.circuit)
        self.spectra.append(result)
        return result

    def add_half_cycle(self, half_cycle: HalfCycle) -> None:
        self.half_cycles.append(half_cycle)

    def add_ct(
        self,
        projections: np.ndarray,
        darks: np.ndarray,
        flats: np.ndarray,
        angles_deg: np.ndarray,
        voxel_size_um: float,
    ) -> CTAnalysis:
        """Reconstruct, segment and measure the CT scan; returns the result."""
        self.ct = analyse_ct(projections, darks, flats, angles_deg, voxel_size_um=voxel_size_um)
        return self.ct

    # -- results ---------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The pressure point's headline numbers (fractions 0–1; NaN where not measured).

        ``conductivity_S_per_cm`` is apparent: the separator's thickness (from its mass,
        density and CT porosity; dense if there is no CT) over (R0 + R_b + R_gb)·area, the
        electrolyte's total resistance read from the fit, leads included; with its 1σ
        ``conductivity_uncertainty_S_per_cm`` (`conductivity_S_per_cm`).
        """
        row: dict[str, Any] = {"pressure_MPa": self.pressure_MPa}
        if self.ct is not None:
            row.update(
                {
                    key: self.ct.as_dict()[key]
                    for key in (
                        "porosity_electrode",
                        "porosity_electrolyte",
                        "contact_rate",
                        "contact_anisotropy",
                        "tortuosity_mode",
                    )
                }
            )
        fit = self.spectra[-1] if self.spectra else None
        if fit is not None and fit.converged:
            values = fit.values()
            electrolyte = fit.sum_of([key for key in ELECTROLYTE_RESISTANCES if key in values])
            porosity = self.ct.porosity_electrolyte if self.ct is not None else 0.0
            sigma_S_per_cm, sigma_stderr_S_per_cm = conductivity_S_per_cm(
                self.geometry.separator_thickness_cm(porosity),
                electrolyte,
                self.geometry.area_cm2,
            )
            row.update(
                R_ct_ohm=values["R_ct_ohm"],
                R_ct_stderr_ohm=fit.parameters["R_ct_ohm"].stderr,
                R_ct_resolved="R_ct_ohm" not in fit.unresolved,
                R_ct_asr_ohm_cm2=values["R_ct_ohm"] * self.geometry.area_cm2,
                # A symmetric cell's charge-transfer arc is its two interfaces in
                # series; a full cell's is the composite cathode's.
                R_ct_asr_per_interface_ohm_cm2=(
                    values["R_ct_ohm"] * self.geometry.area_cm2 / self.geometry.interfaces
                ),
                electrolyte_resistance_ohm=electrolyte.value,
                electrolyte_resistance_stderr_ohm=electrolyte.stderr,
                conductivity_S_per_cm=sigma_S_per_cm,
                conductivity_uncertainty_S_per_cm=sigma_stderr_S_per_cm,
                eis_fit_converged=True,
                eis_kk_valid=fit.kk_valid,
            )
        elif fit is not None:
            row["eis_fit_converged"] = False
        failure = self.failure()
        if failure is not None:
            row.update(failure.as_dict())
        cycles = self.cycle_metrics()
        if cycles:
            row.update(
                discharge_capacity_mAh=cycles[-1]["discharge_capacity_mAh"],
                discharge_capacity_mAh_g=cycles[-1]["discharge_capacity_mAh_g"],
                coulombic_efficiency=cycles[-1]["coulombic_efficiency"],
            )
            row.update(
                retention_summary(
                    [cycle["discharge_capacity_mAh"] for cycle in cycles],
                    [int(cycle["cycle_index"]) for cycle in cycles],
                )
            )
        return row

    def cycle_metrics(self) -> list[dict[str, float]]:
        """Per-cycle metrics of a full cell (empty for a symmetric cell)."""
        if self.geometry.cell_type != "full":
            return []
        return [
            cycle_metrics(
                charge,
                discharge,
                active_mass_g=self.geometry.active_mass_g,
                area_cm2=self.geometry.area_cm2,
            ).as_dict()
            for charge, discharge in pair_cycles(self.half_cycles)
        ]

    def failure(self) -> SymmetricCellFailure | FullCellFailure | None:
        """How and where the half cycles failed, with the polarisation's trend: for a
        symmetric cell's half cycles or a CCD staircase's (on a full cell, its polarisation
        from the hysteresis), `classify_symmetric_failure`; for a full cell's cycling,
        `classify_full_cell_failure`; None without half cycles."""
        if not self.half_cycles:
            return None
        symmetric = self.geometry.cell_type == "symmetric"
        if not (symmetric or self.current_densities_mA_cm2):
            return classify_full_cell_failure(self.half_cycles, self.geometry.area_cm2)
        return classify_symmetric_failure(
            self.half_cycles,
            self.geometry.area_cm2,
            densities_mA_cm2=self.current_densities_mA_cm2,
            polarisation_is_voltage=symmetric,
        )

    def streams(self) -> dict[str, list[dict[str, Any]]]:
        """The analysis run's streams: ``summary``, ``eis_fit``, ``cycles``, ``failure``,
        ``ct``."""
        streams: dict[str, list[dict[str, Any]]] = {"summary": [self.summary()]}
        streams["eis_fit"] = [fit.as_dict() for fit in self.spectra]
        streams["cycles"] = self.cycle_metrics()
        failure = self.failure()
        if failure is not None:
            streams["failure"] = [failure.as_dict()]
        if self.ct is not None:
            streams["ct"] = [
                {
                    **self.ct.as_dict(),
                    "tortuosity_values": np.asarray(self.ct.tortuosity_values),
                    "slice": self.ct.slice,
                    "segmentation": self.ct.segmentation,
                }
            ]
        return streams


def conductivity_S_per_cm(
    thickness_cm: float, resistance: Estimate, area_cm2: float
) -> tuple[float, float]:
    """Conductivity σ = L / (R·A) and its standard uncertainty (1σ), S/cm.

    Parameters
    ----------
    thickness_cm
        Separator thickness L, cm.
    resistance
        The electrolyte's resistance R from the fit, Ω, with its standard error (from the
        fit's covariance s²·(JᵀJ)⁻¹ at the optimum, `acq.analysis.eis_fit`).
    area_cm2
        Electrode area A, cm².

    Returns
    -------
    (σ, uncertainty), S/cm
        The uncertainty is σ·stderr(R)/R, the first-order propagation of the fit's error
        alone. Not included: the thickness's (its mass, pore-free density and CT porosity
        are recorded without uncertainties) and the area's (the disc diameter's), which a
        known relative error δL/L would add in quadrature.
    """
    sigma = thickness_cm / (resistance.value * area_cm2)
    return sigma, sigma * resistance.stderr / resistance.value


def capacity_ratios(rows: list[dict[str, Any]]) -> list[float]:
    """Discharge capacity of each row relative to the row of the lowest pressure."""
    measured = [r for r in rows if math.isfinite(r.get("discharge_capacity_mAh", math.nan))]
    if not measured:
        return [math.nan] * len(rows)
    reference = min(measured, key=lambda r: r["pressure_MPa"])["discharge_capacity_mAh"]
    return [r.get("discharge_capacity_mAh", math.nan) / reference for r in rows]


def analyse_raw_run(run, circuit: str) -> PressurePointAnalysis:
    """Analyse a recorded run from Tiled: every spectrum, half cycle and the CT scan."""
    point = PressurePointAnalysis.from_start(run.metadata["start"], circuit)
    for spectrum in spectra(run):
        point.add_spectrum(*spectrum)
    for half in half_cycles(run):
        point.add_half_cycle(half)
    frames = ct_frames(run)
    if frames is not None:
        point.add_ct(
            frames.projections, frames.darks, frames.flats, frames.angles_deg, frames.voxel_size_um
        )
    return point
