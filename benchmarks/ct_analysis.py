"""Cost and accuracy of the CT analysis, against the scan's exposure floor and iradon.

The scans are simulated as ``scan()`` in tests/unit/analysis/test_ct_analysis.py makes them
(phantom seed 0, detector seed 1, frames straight from the simulator's projector and
detector; the projector runs on threads, which changes no frame). Simulating is never timed.

`figures` (``python -m benchmarks``) measures, in one run:

- the demo's scan (default `CellParameters`, 256² × 64 slices, `acq.demo.DEMO_PLAN_ARGS`:
  361 projections over 0–180° inclusive, 10 darks, 10 flats): `analyse_ct`'s wall time ÷ the
  scan's exposure floor, (projections + darks + flats) × ``ct_exposure_s`` (every frame's
  exposure, no motion or readout);
- the paper's crop (docs/science.md: 512² × 50 slices from 1800 projections, 91 s of
  exposure; ``quick``: 256² × 24 slices from 900 projections): the same ratio, and the
  reconstruction against scikit-image's ``iradon`` on a few of its slices (per slice,
  scaled to all; the FBP of the same sinograms, same run);
- how the reconstruction grows with projections and detector width (random frames: its cost
  does not depend on their content) and the segmentation with the volume (the two scans).

Times are wall (the analysis uses every core) with the CPU time and load average beside.
``main()`` (``python benchmarks/ct_analysis.py``) times the demo's scan at ``--pressures``
and prints the analysis's results beside the phantom's truth: porosity of the electrode and
electrolyte layers (error in percentage points), contact rate, contact anisotropy and
tortuosity mode (relative error).

    .venv/bin/python benchmarks/ct_analysis.py [--pressures 6 100]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from skimage.transform import iradon

from acq.analysis.ct import CTAnalysis, analyse_ct
from acq.analysis.ct_reconstruction import line_integrals, reconstruct
from acq.analysis.slabs import map_slabs
from acq.demo.run import DEMO_PLAN_ARGS
from benchmarks.figures import Figure
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


T = TypeVar("T")

#: The paper's analysed crop (docs/science.md) at the simulator's 1 µm voxels, and its scan.
PAPER_CROP = {"diameter_voxels": 512, "electrode_slices": 36, "electrolyte_slices": 14}
PAPER_PROJECTIONS = 1800
#: ``quick``: a smaller crop and scan.
QUICK_CROP = {"diameter_voxels": 256, "electrode_slices": 16, "electrolyte_slices": 8}
QUICK_PROJECTIONS = 900
#: Stack pressure of the paper-crop phantom, MPa.
PAPER_PRESSURE_MPA = 25.0
#: Slices of the crop reconstructed by ``iradon`` for the anchor (it is per slice).
IRADON_SLICES = 2
#: (detector columns, slices, projections) of the reconstruction's growth; ``quick`` first.
GROWTH_SIZES = {
    True: [(128, 24, 450), (128, 24, 900), (256, 24, 900)],
    False: [(256, 50, 900), (256, 50, 1800), (512, 50, 900)],
}


def simulate_scan(
    params: CellParameters, pressure_MPa: float, angles_deg: np.ndarray, darks: int, flats: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Phantom]:
    """(projections, darks, flats, phantom) as test_ct_analysis.py's ``scan()`` makes them;
    the line integrals are projected on threads (one projector each), the detector's noise
    drawn in angle order as there."""
    phantom = make_phantom(
        microstructure_at(pressure_MPa, params), params.imaging, np.random.default_rng(0)
    )
    volume = attenuation_volume(phantom, params.imaging)

    def project(part: slice) -> list[np.ndarray]:
        projector = ParallelBeamProjector(volume)
        return [projector.project(angle) for angle in angles_deg[part]]

    integrals = [frame for part in map_slabs(project, len(angles_deg)) for frame in part]
    detector = DetectorModel(params.imaging, np.random.default_rng(1))
    projections = np.stack([detector.projection(frame) for frame in integrals])
    dark_frames = np.stack([detector.dark() for _ in range(darks)])
    flat_frames = np.stack([detector.flat() for _ in range(flats)])
    return projections, dark_frames, flat_frames, phantom


@dataclass(frozen=True)
class Timing:
    """Wall and CPU (all threads) seconds of one step."""

    wall_s: float
    cpu_s: float


def timed(function: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[Timing, T]:
    """(`Timing`, result) of ``function(*args, **kwargs)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), result


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


def load_text() -> str:
    """The 1, 5 and 15 min load averages."""
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


@dataclass(frozen=True)
class ScanCost:
    """What one simulated scan's analysis cost, and the frames (for the anchor)."""

    floor_s: float
    voxels: int
    reconstruction: Timing
    analysis: Timing
    frames: tuple[np.ndarray, np.ndarray, np.ndarray]

    @property
    def segmentation_s(self) -> float:
        """Segmentation + metrics: the whole analysis less the reconstruction, wall s."""
        return self.analysis.wall_s - self.reconstruction.wall_s

    def detail(self) -> str:
        return (
            f"{self.analysis.wall_s:.1f} s of {self.floor_s:.0f} s: reconstruction "
            f"{self.reconstruction.wall_s:.1f} s, segmentation + metrics "
            f"{self.segmentation_s:.1f} s; CPU {self.analysis.cpu_s:.1f} s on "
            f"{os.cpu_count()} cores (CPU ÷ floor {self.analysis.cpu_s / self.floor_s:.3f})"
        )


def scan_cost(params: CellParameters, pressure_MPa: float, angles_deg: np.ndarray) -> ScanCost:
    """Simulate one scan with the demo's darks, flats and exposure, then time `reconstruct`
    and the whole `analyse_ct` on it."""
    darks, flats = DEMO_PLAN_ARGS["ct_num_darks"], DEMO_PLAN_ARGS["ct_num_flats"]
    frames = simulate_scan(params, pressure_MPa, angles_deg, darks, flats)[:3]
    reconstruction, _ = timed(reconstruct, *frames, angles_deg)
    analysis, _ = timed(
        analyse_ct, *frames, angles_deg, voxel_size_um=params.imaging.voxel_size_um
    )
    floor_s = (len(angles_deg) + darks + flats) * DEMO_PLAN_ARGS["ct_exposure_s"]
    rows, columns = frames[0].shape[1:]
    return ScanCost(floor_s, rows * columns**2, reconstruction, analysis, frames)


def iradon_per_slice(
    frames: tuple[np.ndarray, np.ndarray, np.ndarray], angles_deg: np.ndarray, count: int
) -> Timing:
    """scikit-image's ``iradon`` (ramp filter) of ``count`` of the scan's slices, per slice;
    the flat/dark correction is not timed."""
    projections, darks, flats = frames
    rows = np.linspace(0, projections.shape[1] - 1, count).astype(int)
    sinograms = line_integrals(projections[:, rows], darks[:, rows], flats[:, rows])
    timing, _ = timed(
        lambda: [
            iradon(sinograms[:, k].T, theta=-angles_deg, filter_name="ramp") for k in range(count)
        ]
    )
    return Timing(timing.wall_s / count, timing.cpu_s / count)


def reconstruction_growth(sizes: list[tuple[int, int, int]]) -> str:
    """`reconstruct` of random frames at each (columns, slices, projections), as text: wall s
    and ns per reconstructed voxel and projection."""
    rng = np.random.default_rng(2)
    parts = []
    for columns, rows, count in sizes:
        projections = rng.integers(4000, 20000, (count, rows, columns), dtype=np.uint16)
        darks = np.full((1, rows, columns), 100, dtype=np.uint16)
        flats = np.full((1, rows, columns), 20000, dtype=np.uint16)
        timing, _ = timed(reconstruct, projections, darks, flats, np.linspace(0, 180, count))
        per_ns = 1e9 * timing.wall_s / (np.pi / 4 * columns**2 * rows * count)
        parts.append(f"{columns}²×{rows}×{count} {timing.wall_s:.1f} s ({per_ns:.2f} ns)")
    return "; ".join(parts)


def figures(quick: bool) -> list[Figure]:
    """The CT analysis's figures of issue 13: analysis ÷ exposure floor for the demo's scan
    and for the paper's crop, the reconstruction against ``iradon`` and how the cost grows;
    ``quick``: a 256² × 24 crop from 900 projections and smaller growth sizes."""
    demo_angles = np.linspace(0.0, 180.0, DEMO_PLAN_ARGS["ct_num_projections"])
    demo = scan_cost(CellParameters(), PAPER_PRESSURE_MPA, demo_angles)
    demo_load = load_text()
    crop = QUICK_CROP if quick else PAPER_CROP
    crop_params = CellParameters.from_mapping({"imaging": crop})
    crop_angles = np.linspace(0.0, 180.0, QUICK_PROJECTIONS if quick else PAPER_PROJECTIONS)
    paper = scan_cost(crop_params, PAPER_PRESSURE_MPA, crop_angles)
    paper_load = load_text()
    # The process's peak so far: the crop's simulated frames, its analysis, and the smaller
    # demo scan before it (an upper bound of the crop's scan plus analysis).
    peak_GB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    anchor = iradon_per_slice(paper.frames, crop_angles, IRADON_SLICES)
    slices = paper.frames[0].shape[1]
    growth = reconstruction_growth(GROWTH_SIZES[quick])
    crop_name = f"{crop['diameter_voxels']}² × {slices} slices from {len(crop_angles)} projections"
    per_voxel = [
        f"{1e6 * cost.segmentation_s / cost.voxels:.2f} s/Mvoxel at {cost.voxels / 1e6:.1f} M"
        for cost in (demo, paper)
    ]
    return [
        Figure(
            "CT analysis ÷ scan exposure floor, demo scan",
            demo.analysis.wall_s / demo.floor_s,
            "×",
            0.15,
            "lower",
            anchor="(361 projections + 10 darks + 10 flats) × 0.05 s",
            detail=f"256² × 64 slices; {demo.detail()}; load {demo_load}",
        ),
        Figure(
            f"CT analysis ÷ scan exposure floor, {'' if quick else 'the paper' + chr(39) + 's '}"
            f"crop {crop_name}",
            paper.analysis.wall_s / paper.floor_s,
            "×",
            0.15,
            "lower",
            anchor=f"({len(crop_angles)} projections + 10 darks + 10 flats) × 0.05 s",
            detail=(
                f"{paper.detail()}; segmentation + metrics {per_voxel[0]} (demo), "
                f"{per_voxel[1]} (crop); load {paper_load}"
            ),
        ),
        Figure(
            f"CT scan + analysis peak memory, {crop_name}",
            peak_GB,
            "GB",
            8.0,
            "lower",
            anchor="peak RSS of this process (frames in memory, as the worker reads them)",
            detail="the detector's 2048² × 1800 render alone: benchmarks/ct_frames.py",
        ),
        Figure(
            f"CT reconstruction, scikit-image iradon ÷ ours, {crop_name}",
            anchor.wall_s * slices / paper.reconstruction.wall_s,
            "×",
            1.0,
            "higher",
            anchor=f"iradon (ramp) of {IRADON_SLICES} of its slices, per slice × {slices}",
            detail=(
                f"ours {paper.reconstruction.wall_s:.1f} s wall "
                f"(CPU {paper.reconstruction.cpu_s:.1f} s), iradon {anchor.wall_s:.2f} s "
                f"per slice (CPU {anchor.cpu_s:.2f} s); growth (columns²×slices×projections, "
                f"ns per voxel·projection): {growth}; load {load_text()}"
            ),
        ),
    ]


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
