"""What a pressure series measured and what its analysis found, read back from Tiled: one
row per pressure.

Keys carry their units; fractions are 0–1. `measured_row` reads a raw run; `analysed_row`
adds its analysis run's summary (`acq.analysis`); on a simulated station each row may carry a
``truth`` object with the simulator's values under the same keys.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conventions import data_keys

from ..analysis.pressure_point import capacity_ratios


def _column(stream, key: str) -> np.ndarray:
    return np.asarray(stream[key].read())


def _frame_count(run, stream: str) -> int:
    return int(run[stream][data_keys.FRAME].shape[0]) if stream in run else 0


def measured_row(run) -> dict[str, Any]:
    """The measured quantities of one ``pressure_series`` run (a Tiled `BlueskyRun`)."""
    start = run.metadata["start"]
    streams = set(run)
    primary = run[data_keys.PRIMARY]
    row: dict[str, Any] = {
        "uid": start["uid"],
        "pressure_setpoint_MPa": start["pressure_MPa"],
        "pressure_MPa": float(_column(primary, data_keys.PRESS_PRESSURE).mean()),
        "force_N": float(_column(primary, data_keys.PRESS_FORCE).mean()),
    }
    if data_keys.EIS in streams:
        eis = run[data_keys.EIS]
        n = int(_column(eis, data_keys.SPECTRUM_POINTS)[0])
        z_real = _column(eis, data_keys.SPECTRUM_Z_REAL)[0, :n]
        row.update(
            eis_points=n,
            z_real_high_frequency_ohm=float(z_real[0]),
            z_real_low_frequency_ohm=float(z_real[-1]),
        )
    if data_keys.PROJECTION in streams:
        frames = run[data_keys.PROJECTION][data_keys.FRAME]
        row.update(
            ct_projections=int(frames.shape[0]),
            ct_frame_shape=[int(n) for n in frames.shape[-2:]],
            ct_darks=_frame_count(run, data_keys.DARK),
            ct_flats=_frame_count(run, data_keys.FLAT),
        )
    if data_keys.HALF_CYCLE in streams:
        half = run[data_keys.HALF_CYCLE]
        steps = [str(s) for s in _column(half, data_keys.CYCLE_STEP)]
        capacity = _column(half, data_keys.HALF_CYCLE_CAPACITY)
        reasons = [str(r) for r in _column(half, data_keys.HALF_CYCLE_REASON)]
        for step in ("charge", "discharge"):
            last = max((i for i, s in enumerate(steps) if s == step), default=None)
            if last is not None:
                row[f"{step}_capacity_mAh"] = float(capacity[last])
                row[f"{step}_end"] = reasons[last]
    return row


#: Keys of the analysis each row gains (fractions 0–1), as the issue of the analysis names them.
ANALYSIS_KEYS = (
    "porosity_electrode",
    "porosity_electrolyte",
    "contact_rate",
    "contact_anisotropy",
    "tortuosity_mode",
    "conductivity_S_per_cm",
    "R_ct_ohm",
    "capacity_ratio",
)


def analysed_row(measured: dict[str, Any], analysis_run) -> dict[str, Any]:
    """``measured`` plus the analysis run's ``summary`` (every key it has)."""
    table = analysis_run["summary"].read()
    summary = {key: table[key].values[0].item() for key in table if key not in ("time", "seq_num")}
    summary.pop("pressure_MPa", None)  # the measured pressure stays
    return {**measured, **summary, "analysis_uid": analysis_run.metadata["start"]["uid"]}


def add_capacity_ratios(rows: list[dict[str, Any]]) -> None:
    """Set each row's ``capacity_ratio``: its discharge capacity over the lowest pressure's."""
    for row, ratio in zip(rows, capacity_ratios(rows), strict=True):
        row["capacity_ratio"] = ratio


#: Table columns: (row key, header, format).
COLUMNS = (
    ("pressure_setpoint_MPa", "P_set/MPa", "{:9.1f}"),
    ("pressure_MPa", "P/MPa", "{:7.2f}"),
    ("force_N", "F/N", "{:7.2f}"),
    ("eis_points", "EIS pts", "{:7d}"),
    ("z_real_high_frequency_ohm", "Z'(f_max)/Ω", "{:11.4g}"),
    ("z_real_low_frequency_ohm", "Z'(f_min)/Ω", "{:11.4g}"),
    ("ct_projections", "CT proj", "{:7d}"),
    ("charge_capacity_mAh", "Q_ch/mAh", "{:9.4f}"),
    ("discharge_capacity_mAh", "Q_dis/mAh", "{:9.4f}"),
    ("discharge_end", "dis. end", "{:>13}"),
)


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a fixed-width text table (columns absent from every row are left out)."""
    columns = [c for c in COLUMNS if any(c[0] in row for row in rows)]
    return _text_table(
        [header for _, header, _ in columns],
        [[fmt.format(row[key]) if key in row else "—" for key, _, fmt in columns] for row in rows],
    )


def _text_table(headers: list[str], cells: list[list[str]]) -> str:
    """Right-aligned columns, each as wide as its widest entry."""
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [" ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines += [" ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


#: Columns of the analysis table: (row key, header, format).
ANALYSIS_COLUMNS = (
    ("pressure_setpoint_MPa", "P/MPa", "{:.0f}"),
    ("porosity_electrode", "ε_cathode", "{:.3f}"),
    ("porosity_electrolyte", "ε_SE", "{:.3f}"),
    ("contact_rate", "contact", "{:.3f}"),
    ("contact_anisotropy", "z/xy", "{:.2f}"),
    ("tortuosity_mode", "τ_mode", "{:.2f}"),
    ("conductivity_S_per_cm", "σ/(S/cm)", "{:.3g}"),
    ("R_ct_ohm", "R_ct/Ω", "{:.4g}"),
    ("capacity_ratio", "Q/Q(P_min)", "{:.2f}"),
)


def format_analysis_table(rows: list[dict[str, Any]]) -> str:
    """The analysis columns, each as ``measured (true)`` where a truth is known."""

    def cell(row: dict[str, Any], key: str, fmt: str) -> str:
        if key not in row:
            return "—"
        text = fmt.format(row[key])
        truth = row.get("truth", {})
        return f"{text} ({fmt.format(truth[key])})" if key in truth else text

    return _text_table(
        [header for _, header, _ in ANALYSIS_COLUMNS],
        [[cell(row, key, fmt) for key, _, fmt in ANALYSIS_COLUMNS] for row in rows],
    )
