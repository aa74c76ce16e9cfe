"""Scribner ZPlot files (``.z``).

A ``.z`` starts ``ZPlot2 ASCII``; ``Name: value`` lines describe the sweep (``Date``,
``Time``, ``Freq Start``, ``Ampl``, …), free text sits between ``Begin Comments`` and ``End
Comments``, and the comma-separated table follows: frequency (Hz), amplitude, bias, time,
Z′ and Z″ (Ω, Z″ = Im Z), ….
"""

from __future__ import annotations

from pathlib import Path

from .header import header_number, iso_datetime, key_values
from .measurement import ImportFileError, Measurement, check_rows
from .vendor_reader import read_spectrum

INSTRUMENT = "Scribner ZPlot"
MAGIC = "ZPlot2 ASCII"
DATE_FORMATS = ("%m-%d-%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S")


def read_z(path: Path) -> Measurement:
    """Read a ZPlot ``.z`` spectrum.

    Raises
    ------
    ImportFileError
        If it does not start ``ZPlot2 ASCII`` or has no ``End Comments`` line before its
        table, or a value is not finite.
    """
    lines = path.read_text(encoding="latin-1").splitlines()
    if not lines or lines[0].strip() != MAGIC or "End Comments" not in lines:
        raise ImportFileError(f"{path}: not a ZPlot file ('{MAGIC}' … 'End Comments')")
    begin = (
        lines.index("Begin Comments") if "Begin Comments" in lines else lines.index("End Comments")
    )
    rows = lines[lines.index("End Comments") + 1 :]
    check_rows(str(path), rows, len(rows[0].split(",")) if rows else 0, ",")
    metadata = key_values(lines[1:begin], ":")
    metadata["comments"] = "\n".join(lines[begin + 1 : lines.index("End Comments")])
    return Measurement(
        instrument=INSTRUMENT,
        technique="PEIS",
        metadata=metadata,
        measured_at=iso_datetime(
            f"{metadata.get('Date', '')} {metadata.get('Time', '')}", DATE_FORMATS
        ),
        spectra=[read_spectrum(path, "zplot")],
        amplitude_V=header_number(str(path), "Ampl", metadata.get("Ampl")),
    )
