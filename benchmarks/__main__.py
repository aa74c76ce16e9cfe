"""Every benchmark, one table: ``python -m benchmarks [--quick] [--only NAME …] [--results]``.

Each module of `MODULES` measures its figures against anchors measured in the same run (a
physical floor, raw h5py, bluesky without a subscriber, the stock TiledWriter, impedance.py,
scikit-image's or algotom's reconstruction) and returns them as `benchmarks.figures.Figure`
rows; this runs them one after another, printing each module's table with the load average
before and after it, then every figure in one table. ``--results`` also writes that table,
with the machine's details, to ``benchmarks/RESULTS.md``.

A module that fails is reported as one line (its figures missing) and the others still run.
Run it on a quiet machine: every figure is a wall-clock measurement on the cores it is given.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from benchmarks.figures import Figure

#: The benchmark modules of this folder, in the order they run (cheapest first).
MODULES = (
    "eis_fit",
    "ct_analysis",
    "ct_frames",
    "tiled_streaming",
    "ct_scan",
    "tiled_load",
    "demo",
)

#: Packages whose versions RESULTS.md records.
PACKAGES = (
    "bluesky",
    "ophyd",
    "caproto",
    "pyepics",
    "tiled",
    "bluesky-tiled-plugins",
    "h5py",
    "numpy",
    "scipy",
    "scikit-image",
    "impedance",
)

RESULTS = Path(__file__).with_name("RESULTS.md")


def load_average() -> str:
    """The 1, 5 and 15 min load averages, as ``uptime`` prints them."""
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


def machine() -> list[str]:
    """What the figures were measured on: CPU, cores, memory, OS, Python, packages."""
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        memory_GB = int(meminfo.readline().split()[1]) / 1024**2
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores; memory {memory_GB:.1f} GB",
        f"OS: {platform.platform()}; Python {platform.python_version()}",
        "packages: " + ", ".join(versions),
    ]


def format_table(figures: list[Figure]) -> list[str]:
    """``figures`` as a Markdown table: figure, now, goal, met, anchor and detail."""
    rows = ["| figure | now | goal | met | anchor; detail |", "|---|---|---|---|---|"]
    for figure in figures:
        note = "; ".join(text for text in (figure.anchor, figure.detail) if text)
        rows.append(
            f"| {figure.name} | {figure.value:.3g} {figure.unit} | {figure.goal_text} "
            f"| {'yes' if figure.met else '**no**'} | {note} |"
        )
    return rows


def run_module(name: str, quick: bool) -> tuple[list[Figure], str | None]:
    """The figures of benchmark module ``name``, or none and the one-line reason it failed."""
    try:
        module = importlib.import_module(f"benchmarks.{name}")
        return list(module.figures(quick)), None
    except Exception as error:  # one benchmark's failure must not lose the others' figures
        traceback.print_exc()
        return [], f"{type(error).__name__}: {error}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes (each module well under a minute)"
    )
    parser.add_argument("--only", nargs="+", choices=MODULES, metavar="NAME", help="these only")
    parser.add_argument("--results", action="store_true", help=f"write {RESULTS.name}")
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    failures: list[str] = []
    started = time.perf_counter()
    for name in args.only or MODULES:
        print(f"\n=== benchmarks.{name} (load average {load_average()})", flush=True)
        began = time.perf_counter()
        module_figures, failure = run_module(name, args.quick)
        figures.extend(module_figures)
        if failure:
            failures.append(f"benchmarks.{name} failed: {failure}")
            print(failures[-1], flush=True)
        else:
            print("\n".join(format_table(module_figures)))
        print(
            f"=== benchmarks.{name}: {time.perf_counter() - began:.0f} s "
            f"(load average {load_average()})",
            flush=True,
        )
    summary = [
        f"{sum(f.met for f in figures)} of {len(figures)} goals met"
        f"{'' if not failures else f'; {len(failures)} benchmark(s) failed'} "
        f"({'--quick, ' if args.quick else ''}{time.perf_counter() - started:.0f} s, "
        f"load average at the end {load_average()})",
    ]
    table = format_table(figures)
    print("\n" + "\n".join([*table, "", *failures, *summary]))
    if args.results:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = "python -m benchmarks" + (" --quick" if args.quick else "")
        lines = [
            "# Benchmark results",
            "",
            f"`{command}` on {when}; regenerate with `.venv/bin/{command} --results`.",
            "The README's figures are taken from here.",
            "",
            *(f"- {line}" for line in machine()),
            "",
            *table,
            "",
            *(f"- {line}" for line in [*failures, *summary]),
        ]
        RESULTS.write_text("\n".join(lines) + "\n")
        print(f"written to {RESULTS}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
