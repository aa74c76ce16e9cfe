"""Frames at disk speed: the simulated detector's HDF5 writer against raw h5py, and the
simulator's frame rendering against the exposure.

* Write path: `simulated_devices.frame_file.FrameFile` (SWMR, a direct chunk write per frame,
  angles at each flush, flushed every 0.5 s and at close) against raw h5py writing the same
  frames to a preallocated dataset of the same chunking (one frame per chunk), same
  directory, same run, alternately, best of `REPEATS`; at 64 × 256, 512² and 2048² frames,
  `WRITE_MB` (quick: a quarter) per run. The figure is raw time ÷ writer time (≥ 1: the
  writer is as fast). Registering the frames in Tiled is a stream datum per flush, not timed.
* Render: a projection and its detector frame (`ParallelBeamProjector.project` +
  `DetectorModel.projection`, as the simulated detector makes each frame) of the paper's
  cell (docs/science.md: field of view 1 mm, 0.5 µm pixels at 2048², binned to 2 µm at
  512²) at 25 MPa, CPU time per frame ÷ the paper's exposure `EXPOSURE_S`; in a child
  process, whose peak memory (RSS) is the paper-scale scan's: 2048² × 1800 frames over 180°
  (quick: 40 frames; the setup, where the memory peaks, is the same).

    .venv/bin/python benchmarks/ct_frames.py [--quick] [--dir DIRECTORY]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import h5py
import numpy as np

from benchmarks.figures import Figure
from simulated_devices.frame_file import FrameFile
from simulated_devices.physics.microstructure import microstructure_at
from simulated_devices.physics.parameters import CellParameters, ImagingParameters
from simulated_devices.physics.phantom import make_phantom, phantom_imaging
from simulated_devices.physics.projection import (
    DetectorModel,
    ParallelBeamProjector,
    attenuation_volume,
)

#: Frame shapes (rows, columns) of the write-path figures.
WRITE_SHAPES = ((64, 256), (512, 512), (2048, 2048))
#: Frames written per run and shape, MB (quick: a quarter).
WRITE_MB = 256
#: Runs of each writer per shape; the best counts (the least disturbed by other load).
REPEATS = 5
#: The paper's exposure per frame, s (docs/science.md).
EXPOSURE_S = 0.05
#: The paper's projections over 180°.
PAPER_FRAMES = 1800
#: Longest a render run goes on, s (wall); it reports the frames it got through.
RENDER_BUDGET_S = 240.0
#: Where the write path writes by default (git-ignored; a disk, not tmpfs).
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "build"


def load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def paper_imaging(pixels: int) -> ImagingParameters:
    """The paper's 1 mm field of view at ``pixels`` × ``pixels``: 3/4 of the rows electrode."""
    return dataclasses.replace(
        CellParameters().imaging,
        diameter_voxels=pixels,
        electrode_slices=pixels * 3 // 4,
        electrolyte_slices=pixels // 4,
        voxel_size_um=1000.0 / pixels,
    )


# --- write path -----------------------------------------------------------------------------


def write_raw(path: Path, frames: np.ndarray, count: int) -> None:
    """``count`` frames (cycling through ``frames``) by raw h5py, one frame per chunk."""
    shape = frames.shape[1:]
    with h5py.File(path, "w", libver="latest") as handle:
        dataset = handle.create_dataset(
            "data", shape=(count, *shape), dtype=np.uint16, chunks=(1, *shape)
        )
        for index in range(count):
            dataset[index] = frames[index % len(frames)]


def write_frame_file(path: Path, frames: np.ndarray, count: int) -> None:
    """``count`` frames (cycling through ``frames``) through the simulated detector's file."""
    file = FrameFile(path, frames.shape[1:])
    for index in range(count):
        file.append(frames[index % len(frames)], 0.1 * index)
    file.close()


def timed(write, path: Path, frames: np.ndarray, count: int) -> tuple[float, float]:
    """(wall s, CPU s) of one write, the file removed after."""
    started, cpu = time.perf_counter(), time.process_time()
    write(path, frames, count)
    result = time.perf_counter() - started, time.process_time() - cpu
    path.unlink()
    return result


def write_path(directory: Path, shape: tuple[int, int], quick: bool) -> dict[str, float]:
    """Best wall and CPU seconds of raw h5py and of `FrameFile` writing the same frames."""
    frames = np.random.default_rng(0).integers(100, 20000, (4, *shape), dtype=np.uint16)
    megabytes = WRITE_MB / (4 if quick else 1)
    count = max(int(megabytes * 2**20 / frames[0].nbytes), 4)
    best = {"frames": float(count)}
    for _ in range(REPEATS):
        for name, write in (("raw", write_raw), ("ours", write_frame_file)):
            wall, cpu = timed(write, directory / f"{name}.h5", frames, count)
            best[f"{name}_wall"] = min(best.get(f"{name}_wall", wall), wall)
            best[f"{name}_cpu"] = min(best.get(f"{name}_cpu", cpu), cpu)
    return best


# --- render -------------------------------------------------------------------------------


def render(pixels: int, frames: int) -> dict[str, float]:
    """Render ``frames`` projections of the paper's cell at ``pixels``² (in this process):
    setup wall s, CPU and wall s per frame, frames rendered, this process's peak RSS, GB."""
    params = CellParameters()
    imaging = paper_imaging(pixels)
    started = time.perf_counter()
    phantom = make_phantom(
        microstructure_at(25.0, params), phantom_imaging(imaging), np.random.default_rng(0)
    )
    rows = imaging.electrode_slices + imaging.electrolyte_slices
    projector = ParallelBeamProjector(
        attenuation_volume(phantom, imaging), frame_shape=(rows, pixels)
    )
    detector = DetectorModel(imaging, np.random.default_rng(1))
    setup_s = time.perf_counter() - started
    del phantom
    started, cpu = time.perf_counter(), time.process_time()
    done = 0
    for angle in np.linspace(0.0, 180.0, frames, endpoint=False):
        detector.projection(projector.project(float(angle)))
        done += 1
        if time.perf_counter() - started > RENDER_BUDGET_S:
            break
    wall_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    return {
        "setup_s": setup_s,
        "cpu_per_frame_s": cpu_s / done,
        "wall_per_frame_s": wall_s / done,
        "frames": float(done),
        "peak_rss_GB": peak_rss_GB(),
    }


def peak_rss_GB() -> float:
    """This process's peak resident memory since it was started, GB (``VmHWM``: Linux keeps
    ``getrusage``'s ``ru_maxrss`` across ``exec``, so a child started by a large benchmark
    process would report the parent's peak)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    raise RuntimeError("no VmHWM in /proc/self/status")


def render_in_child(pixels: int, frames: int) -> dict[str, float]:
    """`render` in a fresh Python, so that its peak RSS is the render's alone."""
    code = (
        "import json; from benchmarks.ct_frames import render; "
        f"print(json.dumps(render({pixels}, {frames})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=RENDER_BUDGET_S + 300.0,
    )
    return json.loads(result.stdout.splitlines()[-1])


# --- figures --------------------------------------------------------------------------------


def figures(quick: bool, directory: Path = DEFAULT_DIR) -> list[Figure]:
    """Write path ÷ raw h5py at each of `WRITE_SHAPES`; render CPU per frame ÷ exposure at
    512² and 2048²; the paper-scale render's peak RSS. ``quick``: a quarter of the bytes
    written, 40 paper-scale frames instead of 1800."""
    directory.mkdir(parents=True, exist_ok=True)
    result = []
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        for shape in WRITE_SHAPES:
            best = write_path(Path(scratch), shape, quick)
            result.append(
                Figure(
                    f"HDF5 write path ÷ raw h5py, {shape[0]}×{shape[1]} frames",
                    best["raw_wall"] / best["ours_wall"],
                    "×",
                    0.9,
                    "higher",
                    anchor="raw h5py, same frames, chunking and disk, same run (time ratio)",
                    detail=(
                        f"{best['frames']:.0f} frames; wall {best['ours_wall']:.3f} s vs raw "
                        f"{best['raw_wall']:.3f} s, CPU {best['ours_cpu']:.3f} vs "
                        f"{best['raw_cpu']:.3f} s; SWMR, direct chunk writes, 0.5 s flushes; "
                        f"load {load()}"
                    ),
                )
            )
    paper_frames = 40 if quick else PAPER_FRAMES
    for pixels, frames in ((512, 20 if quick else 100), (2048, paper_frames)):
        run = render_in_child(pixels, frames)
        result.append(
            Figure(
                f"CT frame render ÷ exposure, {pixels}²",
                run["cpu_per_frame_s"] / EXPOSURE_S,
                "×",
                1.0,
                "lower",
                anchor=f"the paper's exposure, {EXPOSURE_S} s per frame (CPU per frame)",
                detail=(
                    f"{run['frames']:.0f} frames, CPU {1e3 * run['cpu_per_frame_s']:.1f} ms, "
                    f"wall {1e3 * run['wall_per_frame_s']:.1f} ms per frame; phantom + "
                    f"projector {run['setup_s']:.1f} s; load {load()}"
                ),
            )
        )
    result.append(
        Figure(
            f"paper-scale render (2048² × {PAPER_FRAMES}), peak RSS",
            run["peak_rss_GB"],
            "GB",
            8.0,
            "lower",
            anchor="the rendering process's peak resident memory (VmHWM)",
            detail=(
                f"{run['frames']:.0f} frames rendered"
                f"{' (quick; the setup, where memory peaks, is the same)' if quick else ''}; "
                f"phantom {phantom_imaging(paper_imaging(2048)).diameter_voxels} voxels wide"
            ),
        )
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer bytes and frames")
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help="where the write path writes (a disk)"
    )
    args = parser.parse_args()
    for figure in figures(args.quick, args.dir):
        print(
            f"{figure.name}: {figure.value:.3g} {figure.unit} (goal {figure.goal_text}); "
            f"{figure.anchor}; {figure.detail}"
        )


if __name__ == "__main__":
    main()
