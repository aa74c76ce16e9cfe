"""The pressure series as a scientist would draw it: structure and properties vs pressure,
the spectra, and a reconstructed slice with its segmentation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: the demo and the worker have no display
import matplotlib.pyplot as plt
import numpy as np

from .raw_run import spectra
from .results import analysis_runs_of

#: Colours of the segmentation's labels (void, electrolyte, active material).
PHASE_COLOURS = {0: (1.0, 1.0, 1.0), 1: (0.55, 0.75, 0.95), 2: (0.15, 0.15, 0.45)}


def _against_pressure(
    axis, rows: list[dict[str, Any]], key: str, label: str, marker: str, colour: str
) -> None:
    pressure = [row["pressure_setpoint_MPa"] for row in rows]
    axis.plot(
        pressure, [row.get(key, np.nan) for row in rows], marker, color=colour, label=f"{label}"
    )
    truth = [row.get("truth", {}).get(key, np.nan) for row in rows]
    if np.isfinite(truth).any():
        axis.plot(pressure, truth, "-", color=colour, alpha=0.4, label=f"{label} (true)")


def series_figure(rows: list[dict[str, Any]], raw, analysis, path: Path) -> Path:
    """Draw the series' figure to ``path`` (PNG).

    Parameters
    ----------
    rows
        Summary rows (`acq.demo.summary`), one per pressure, with ``uid`` and ``analysis_uid``.
    raw, analysis
        The Tiled containers the runs are in (for the spectra and the CT slice).
    path
        Where the PNG goes.
    """
    figure, axes = plt.subplots(2, 3, figsize=(15, 9), constrained_layout=True)
    (porosity, contact, transport), (capacity, nyquist, ct) = axes

    _against_pressure(porosity, rows, "porosity_electrode", "cathode", "o", "C0")
    _against_pressure(porosity, rows, "porosity_electrolyte", "electrolyte", "s", "C1")
    porosity.set(ylabel="porosity", title="Porosity")

    _against_pressure(contact, rows, "contact_rate", "contact rate", "o", "C2")
    anisotropy = contact.twinx()
    _against_pressure(anisotropy, rows, "contact_anisotropy", "z / xy", "^", "C3")
    contact.set(ylabel="NCM/SE contact rate", title="Contact")
    anisotropy.set_ylabel("contact anisotropy z / xy")

    _against_pressure(transport, rows, "conductivity_S_per_cm", "σ", "o", "C4")
    resistance = transport.twinx()
    _against_pressure(resistance, rows, "R_ct_ohm", "R_ct", "s", "C5")
    transport.set(ylabel="apparent conductivity / (S/cm)", title="Conductivity and R_ct")
    resistance.set(ylabel="R_ct / Ω", yscale="log")

    _against_pressure(capacity, rows, "capacity_ratio", "Q / Q(P_min)", "o", "C6")
    capacity.lines[-1].set_label("accessible capacity ratio (true, rate-independent)")
    capacity.set(
        ylabel="discharge capacity / that at the lowest pressure", title="Capacity", xscale="log"
    )

    for axis, twin in (
        (porosity, None),
        (contact, anisotropy),
        (transport, resistance),
        (capacity, None),
    ):
        axis.set_xlabel("stack pressure / MPa")
        handles, labels = axis.get_legend_handles_labels()
        if twin is not None:  # one legend for both y axes
            more = twin.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        axis.legend(handles, labels, fontsize=7, loc="best")

    for row in rows:
        for _f, z_real, z_imag in spectra(raw[row["uid"]])[:1]:
            nyquist.plot(z_real, -z_imag, ".", ms=3, label=f"{row['pressure_setpoint_MPa']:g} MPa")
    nyquist.set(xlabel="Z′ / Ω", ylabel="−Z″ / Ω", title="Impedance (Nyquist)")
    nyquist.ticklabel_format(style="sci", scilimits=(-3, 3))
    nyquist.set_aspect("equal", adjustable="datalim")
    nyquist.legend(fontsize=7)

    _ct_panel(ct, rows, analysis)
    figure.suptitle("Stack-pressure series")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _ct_panel(axis, rows: list[dict[str, Any]], analysis) -> None:
    """A reconstructed slice beside its segmentation, of the highest pressure analysed."""
    for row in sorted(rows, key=lambda r: -r["pressure_setpoint_MPa"]):
        runs = analysis_runs_of(analysis, row["uid"])
        if runs and "ct" in runs[-1]:
            stream = runs[-1]["ct"]
            image = np.asarray(stream["slice"].read())[0]
            labels = np.asarray(stream["segmentation"].read())[0]
            coloured = np.zeros((*labels.shape, 3))
            for label, colour in PHASE_COLOURS.items():
                coloured[labels == label] = colour
            grey = (image - image.min()) / max(np.ptp(image), 1e-12)
            axis.imshow(np.concatenate([np.dstack([grey] * 3), coloured], axis=1))
            axis.set_title(
                f"CT slice and segmentation, {row['pressure_setpoint_MPa']:g} MPa\n"
                f"(white void, light blue electrolyte, dark NCM)"
            )
            axis.axis("off")
            return
    axis.set_title("no CT analysed")
    axis.axis("off")
