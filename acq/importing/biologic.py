"""BioLogic EC-Lab text exports (``.mpt``): PEIS spectra and GCPL half cycles.

An ``.mpt`` starts ``EC-Lab ASCII FILE``, then ``Nb header lines : N``; the header's fourth
line names the technique, ``Key : value`` lines describe the run and the technique's settings
follow as ``name   value`` lines; line N holds the tab-separated column names (``freq/Hz``,
``Re(Z)/Ohm``, ``-Im(Z)/Ohm`` for PEIS; ``time/s``, ``Ewe/V``, ``I/mA``, ``half cycle`` for
GCPL) and the table follows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conventions.pv_states import HalfCycleEnd

from ..analysis.cycling import HalfCycle
from .header import header_number, iso_datetime, key_values, settings_block
from .measurement import ImportFileError, Measurement, check_rows, finite_columns
from .vendor_reader import read_spectrum

INSTRUMENT = "BioLogic EC-Lab"
MAGIC = "EC-Lab ASCII FILE"
#: The technique names EC-Lab writes, by the station's name for them.
TECHNIQUES = {
    "Potentio Electrochemical Impedance Spectroscopy": "PEIS",
    "Galvanostatic Cycling with Potential Limitation": "GCPL",
}
#: GCPL columns read: time (s), working-electrode potential (V), current (mA), half cycle.
GCPL_COLUMNS = ("time/s", "Ewe/V", "I/mA", "half cycle")
ACQUISITION_FORMATS = ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S")


def read_mpt(path: Path, cell_type: str) -> Measurement:
    """Read an EC-Lab ``.mpt`` of a PEIS or GCPL technique.

    Parameters
    ----------
    path
        The file.
    cell_type
        ``full`` (half cycles named charge/discharge) or ``symmetric`` (plating/stripping).

    Raises
    ------
    ImportFileError
        If it is not an EC-Lab text export, its technique is neither PEIS nor GCPL, a column
        is missing or a value is not finite.
    """
    lines = path.read_text(encoding="latin-1").splitlines()
    count = key_values(lines[1:2], ":").get("Nb header lines", "")
    if not lines or lines[0].strip() != MAGIC or not count.isdigit() or int(count) > len(lines):
        raise ImportFileError(f"{path}: not an EC-Lab text export (no '{MAGIC}' header)")
    header = lines[: int(count)]
    name = header[3].strip() if len(header) > 3 else ""
    if name not in TECHNIQUES:
        raise ImportFileError(
            f"{path}: EC-Lab technique {name!r} is not imported (only {', '.join(TECHNIQUES)})"
        )
    metadata = {"technique_name": name, **key_values(header[4:-1], " : ")}
    metadata.update(settings_block(header[4:-1]))
    rows = lines[int(count) :]
    check_rows(str(path), rows, len(header[-1].split("\t")), "\t")
    technique = TECHNIQUES[name]
    return Measurement(
        instrument=INSTRUMENT,
        technique=technique,
        metadata=metadata,
        measured_at=iso_datetime(metadata.get("Acquisition started on"), ACQUISITION_FORMATS),
        spectra=[read_spectrum(path, "biologic")] if technique == "PEIS" else [],
        half_cycles=(
            gcpl_half_cycles(str(path), header[-1].split("\t"), rows, cell_type)
            if technique == "GCPL"
            else []
        ),
        amplitude_V=header_number(str(path), "Va (mV)", metadata.get("Va (mV)"), 1e-3),
    )


def gcpl_half_cycles(
    source: str, columns: list[str], rows: list[str], cell_type: str
) -> list[HalfCycle]:
    """The half cycles of a GCPL table, split on its ``half cycle`` column.

    Each half cycle's capacity is |∫ I dt| over its points (mAh); its step follows from the
    sign of its mean current (+: charge or plating); the file does not say which limit ended
    it (``termination_reason`` "None").

    Raises
    ------
    ImportFileError
        If a column of `GCPL_COLUMNS` is missing or a value of one is not a finite number.
    """
    names = [column.strip() for column in columns]
    missing = [column for column in GCPL_COLUMNS if column not in names]
    if missing:
        raise ImportFileError(f"{source}: GCPL table has no column {', '.join(missing)}")
    try:
        table = [[float(value) for value in row.split("\t")] for row in rows if row.strip()]
        values = {column: [row[names.index(column)] for row in table] for column in GCPL_COLUMNS}
    except (ValueError, IndexError) as error:
        raise ImportFileError(f"{source}: GCPL table is garbled ({error})") from None
    data = finite_columns(source, values)
    steps = ("charge", "discharge") if cell_type == "full" else ("plating", "stripping")
    halves = []
    for number in np.unique(data["half cycle"]):
        rows_of = data["half cycle"] == number
        time_s = data["time/s"][rows_of]
        current_A = data["I/mA"][rows_of] * 1e-3
        capacity_mAh = abs(float(np.trapezoid(current_A, time_s))) / 3.6
        halves.append(
            HalfCycle(
                cycle_index=int(number) // 2,
                step=steps[0] if current_A.mean() > 0 else steps[1],
                time_s=time_s - time_s[0],
                voltage_V=data["Ewe/V"][rows_of],
                current_A=current_A,
                capacity_mAh=capacity_mAh,
                termination_reason=str(HalfCycleEnd.NONE),
            )
        )
    return halves
