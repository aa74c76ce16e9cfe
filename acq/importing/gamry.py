"""Gamry Framework data files (``.DTA``) of potentiostatic EIS (``EISPOT``).

A ``.DTA`` is tab-separated: ``TAG<TAB>EISPOT`` names the experiment, each header line is
``NAME<TAB>TYPE<TAB>VALUE<TAB>description`` (``DATE``, ``TIME``, ``FREQINIT``, ``VACAMPL`` in
mV rms, …), and the spectrum is the ``ZCURVE<TAB>TABLE`` that follows, under a line of column
names and one of units (``Freq`` Hz, ``Zreal`` and ``Zimag`` Ω, Zimag = Im Z).
"""

from __future__ import annotations

from pathlib import Path

from .header import header_number, iso_datetime
from .measurement import ImportFileError, Measurement, check_rows
from .vendor_reader import read_spectrum

INSTRUMENT = "Gamry"
#: Gamry's experiment tags of impedance spectra imported.
EIS_TAGS = ("EISPOT", "EISGALV")
DATE_FORMATS = ("%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S")


def read_dta(path: Path) -> Measurement:
    """Read a Gamry EIS ``.DTA``.

    Raises
    ------
    ImportFileError
        If it is not an EIS data file (no ``TAG`` EISPOT/EISGALV, no ``ZCURVE`` table) or a
        value is not finite.
    """
    lines = path.read_text(encoding="latin-1").splitlines()
    header: dict[str, str] = {}
    for number, line in enumerate(lines):
        fields = line.split("\t")
        if fields[0] == "ZCURVE":
            # The table's column names, its units, then its rows (up to an abort, if any).
            names, rows = lines[number + 1 : number + 2], lines[number + 3 :]
            rows = [row for row in rows if not row.startswith("EXPERIMENTABORTED")]
            check_rows(str(path), rows, len(names[0].split("\t")) if names else 0, "\t")
            break
        if len(fields) >= 2 and fields[0]:
            # TAG<TAB>value; every other line NAME<TAB>TYPE<TAB>value<TAB>description.
            value = fields[1] if fields[0] == "TAG" else "\t".join(fields[2:3])
            header.setdefault(fields[0], value)
    else:
        raise ImportFileError(f"{path}: not a Gamry EIS file (no ZCURVE table)")
    if header.get("TAG") not in EIS_TAGS:
        raise ImportFileError(
            f"{path}: Gamry experiment {header.get('TAG')!r} is not imported "
            f"(only {', '.join(EIS_TAGS)})"
        )
    return Measurement(
        instrument=INSTRUMENT,
        technique="PEIS",
        metadata=header,
        measured_at=iso_datetime(
            f"{header.get('DATE', '')} {header.get('TIME', '')}", DATE_FORMATS
        ),
        spectra=[read_spectrum(path, "gamry")],
        # Gamry gives the amplitude in mV rms; the station's plans take it as V.
        amplitude_V=header_number(str(path), "VACAMPL", header.get("VACAMPL"), 1e-3),
    )
