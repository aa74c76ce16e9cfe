"""What an instrument file holds, read into the station's terms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..analysis.cycling import HalfCycle


class ImportFileError(ValueError):
    """An instrument file that cannot be imported: missing, garbled, of no known format, or
    with a non-finite value. The message names the file and what is wrong."""


@dataclass(frozen=True)
class Measurement:
    """One instrument file's data and metadata.

    Attributes
    ----------
    instrument
        The vendor software that wrote it (``BioLogic EC-Lab``, ``Gamry``, ``Scribner ZPlot``).
    technique
        ``PEIS`` (an impedance spectrum) or ``GCPL`` (galvanostatic half cycles).
    metadata
        The file's header as the vendor names it (settings, date, device), strings.
    measured_at
        When the measurement started as the file says (ISO 8601), or None.
    spectra
        Each spectrum: frequency (Hz), Z′ and Z″ (Ω, Z″ = Im Z, negative for a capacitive arc).
    half_cycles
        Each galvanostatic half cycle, in order.
    amplitude_V
        The AC amplitude of the spectra, V, if the file says.
    """

    instrument: str
    technique: str
    metadata: dict[str, Any]
    measured_at: str | None = None
    spectra: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    half_cycles: list[HalfCycle] = field(default_factory=list)
    amplitude_V: float | None = None


def finite_columns(source: str, columns: Mapping[str, ArrayLike]) -> dict[str, np.ndarray]:
    """``columns`` as float arrays, each checked to have a value and only finite ones.

    Parameters
    ----------
    source
        The file, for the message.
    columns
        Column name (as the file names it) to its values.

    Raises
    ------
    ImportFileError
        Naming the first column that is empty or holds NaN or ±inf, and the row.
    """
    arrays = {}
    for name, values in columns.items():
        array = np.asarray(values, dtype=float)
        if array.size == 0:
            raise ImportFileError(f"{source}: column {name!r} has no values")
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise ImportFileError(
                f"{source}: column {name!r} is {array[bad[0]]} in data row {bad[0] + 1}"
            )
        arrays[name] = array
    return arrays


def spectrum(
    source: str, frequency_Hz: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A spectrum from a reader's frequencies (Hz) and complex impedance (Ω), checked finite
    and positive in frequency.

    Raises
    ------
    ImportFileError
        On a non-finite value or a frequency ≤ 0.
    """
    columns = finite_columns(
        source, {"frequency": frequency_Hz, "Z′": np.real(z), "Z″": np.imag(z)}
    )
    if np.any(columns["frequency"] <= 0):
        raise ImportFileError(f"{source}: a frequency is not positive")
    return columns["frequency"], columns["Z′"], columns["Z″"]


def check_rows(source: str, rows: list[str], width: int, separator: str) -> None:
    """Refuse a table whose rows do not each hold ``width`` fields (a file cut short ends in
    a part of a row, whose last number would be read wrong).

    Raises
    ------
    ImportFileError
        Naming the first such row (counted from 1, blank lines left out).
    """
    for number, row in enumerate((row for row in rows if row.strip()), start=1):
        fields = len(row.strip("\r\n").split(separator))
        if fields != width:
            raise ImportFileError(
                f"{source}: data row {number} has {fields} fields, not {width} (file cut short?)"
            )
