"""Cost and accuracy of the CT analysis of one demo-size scan.

The scan is simulated as ``scan()`` in tests/analysis/test_ct_analysis.py makes it (default
`CellParameters`, phantom seed 0, detector seed 1, frames straight from the simulator's
projector and detector) with the demo's protocol (`acq.demo.DEMO_PLAN_ARGS`: 361 projections
over 0–180° inclusive, 10 darks, 10 flats), at each of ``--pressures``. On it,
`acq.analysis.ct.analyse_ct` is timed as a whole, and `reconstruct` alone once more, so that
segmentation + metrics (segmentation, electrode-layer finding, measuring) is the difference.

Printed per pressure: the times, and the whole analysis as a ratio to the physical floor of
acquiring the scan, (projections + darks + flats) × ``ct_exposure_s`` (every frame's
exposure, no motion or readout); below 1 the out-of-process analysis of a scan finishes
within the time the scan takes to acquire, i.e. it keeps up with acquisition. Then the
analysis's results beside the phantom's truth: porosity of the electrode and electrolyte
layers (error in percentage points), contact rate, contact anisotropy and tortuosity mode
(relative error). Simulating the scan is not timed into anything.

    .venv/bin/python benchmarks/ct_analysis.py [--pressures 6 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from acq.analysis.ct import CTAnalysis, analyse_ct
from acq.analysis.ct_reconstruction import reconstruct
from acq.demo import DEMO_PLAN_ARGS
from simulated_devices.physics.microstructure import microstructure_at
from simulated_devices.physics.parameters import CellParameters
from simulated_devices.physics.phantom import Phantom, make_phantom
from simulated_devices.physics.projection import (
    DetectorModel,
    ParallelBeamProjector,
    attenuation_volume,
)

#: (field, label, absolute error in percentage points (True) or relative error in % (False)).
METRICS = (
    ("porosity_electrode", "porosity, electrode", True),
    ("porosity_electrolyte", "porosity, electrolyte", True),
    ("contact_rate", "contact rate", False),
    ("contact_anisotropy", "contact anisotropy", False),
    ("tortuosity_mode", "tortuosity mode", False),
)


def simulate_scan(
    params: CellParameters, pressure_MPa: float, angles_deg: np.ndarray, darks: int, flats: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Phantom]:
    """(projections, darks, flats, phantom) as test_ct_analysis.py's ``scan()`` makes them."""
    phantom = make_phantom(
        microstructure_at(pressure_MPa, params), params.imaging, np.random.default_rng(0)
    )
    projector = ParallelBeamProjector(attenuation_volume(phantom, params.imaging))
    detector = DetectorModel(params.imaging, np.random.default_rng(1))
    projections = np.stack([detector.projection(projector.project(a)) for a in angles_deg])
    dark_frames = np.stack([detector.dark() for _ in range(darks)])
    flat_frames = np.stack([detector.flat() for _ in range(flats)])
    return projections, dark_frames, flat_frames, phantom


def timed_analysis(
    projections: np.ndarray,
    darks: np.ndarray,
    flats: np.ndarray,
    angles_deg: np.ndarray,
    voxel_size_um: float,
) -> tuple[float, float, CTAnalysis]:
    """(reconstruction s, whole `analyse_ct` s, its result)."""
    started = time.perf_counter()
    reconstruct(projections, darks, flats, angles_deg)
    reconstruction = time.perf_counter() - started
    started = time.perf_counter()
    result = analyse_ct(projections, darks, flats, angles_deg, voxel_size_um=voxel_size_um)
    return reconstruction, time.perf_counter() - started, result


def error_text(measured: float, truth: float, absolute: bool) -> str:
    if absolute:
        return f"{100 * (measured - truth):+.2f} pp"
    return f"{100 * (measured / truth - 1):+.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pressures",
        type=float,
        nargs="+",
        default=[6.0, 100.0],
        help="stack pressures to simulate, MPa",
    )
    args = parser.parse_args()
    params = CellParameters()
    imaging = params.imaging
    count = DEMO_PLAN_ARGS["ct_num_projections"]
    darks, flats = DEMO_PLAN_ARGS["ct_num_darks"], DEMO_PLAN_ARGS["ct_num_flats"]
    exposure = DEMO_PLAN_ARGS["ct_exposure_s"]
    angles_deg = np.linspace(0.0, 180.0, count)
    floor = (count + darks + flats) * exposure

    timings, accuracy = [], []
    for pressure in args.pressures:
        started = time.perf_counter()
        projections, dark_frames, flat_frames, phantom = simulate_scan(
            params, pressure, angles_deg, darks, flats
        )
        simulated = time.perf_counter() - started
        reconstruction, whole, result = timed_analysis(
            projections, dark_frames, flat_frames, angles_deg, imaging.voxel_size_um
        )
        timings.append((pressure, simulated, reconstruction, whole))
        accuracy += [
            (label, pressure, getattr(phantom.truth, field), getattr(result, field), absolute)
            for field, label, absolute in METRICS
        ]

    rows = imaging.electrode_slices + imaging.electrolyte_slices
    print(
        f"scan: {count} projections over 0–180°, {darks} darks, {flats} flats, "
        f"{imaging.diameter_voxels} × {rows} pixels, {exposure} s exposure: "
        f"acquisition floor {floor:.2f} s"
    )
    print(
        f"{'pressure':>9} {'simulate/s':>11} {'reconstruct/s':>14} {'segment+metrics/s':>18} "
        f"{'analyse_ct/s':>13} {'÷ floor':>8}"
    )
    for pressure, simulated, reconstruction, whole in timings:
        print(
            f"{pressure:5g} MPa {simulated:11.1f} {reconstruction:14.1f} "
            f"{whole - reconstruction:18.1f} {whole:13.1f} {whole / floor:8.2f}"
        )
    print(f"\n{'metric':22} {'pressure':>9} {'truth':>8} {'measured':>9} {'error':>10}")
    for label, pressure, truth, measured, absolute in accuracy:
        print(
            f"{label:22} {pressure:5g} MPa {truth:8.4f} {measured:9.4f} "
            f"{error_text(measured, truth, absolute):>10}"
        )


if __name__ == "__main__":
    main()
