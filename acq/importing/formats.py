"""The instrument formats `acq import` reads, chosen by file suffix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .biologic import read_mpt
from .gamry import read_dta
from .measurement import ImportFileError, Measurement
from .zplot import read_z

#: Readers by lower-case suffix; each takes the file and the cell type.
READERS: dict[str, Callable[[Path, str], Measurement]] = {
    ".mpt": read_mpt,
    ".dta": lambda path, _cell_type: read_dta(path),
    ".z": lambda path, _cell_type: read_z(path),
}
#: The formats in words, for messages and ``acq import --help``.
FORMATS = "BioLogic EC-Lab .mpt (PEIS, GCPL), Gamry .DTA (EIS), Scribner ZPlot .z"


def read_file(path: Path, cell_type: str) -> Measurement:
    """Read one instrument file by its suffix.

    Parameters
    ----------
    path
        The file.
    cell_type
        The cell's ``full`` or ``symmetric`` (names the half cycles' steps).

    Raises
    ------
    ImportFileError
        If the file is missing or unreadable, of no known format, or garbled.
    """
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ImportFileError(
            f"{path}: unknown format {path.suffix!r}; acq import reads {FORMATS}"
        )
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    try:
        measurement = reader(path, cell_type)
    except OSError as error:
        raise ImportFileError(f"{path}: cannot be read ({error.strerror})") from None
    if not measurement.spectra and not measurement.half_cycles:
        raise ImportFileError(f"{path}: holds no data")
    return measurement
