"""Impedance spectra through impedance.py's instrument readers (`impedance.preprocessing`).

impedance.py (MIT, ≈50 kB, its dependencies numpy, scipy and matplotlib are the station's
own plus altair) reads the spectrum tables of BioLogic, Gamry, ZPlot, Autolab and CH
Instruments exports. The other maintained readers weighed: galvani (BioLogic .mpr) is
GPL-3.0-or-later, which would bind this package's licence, and reads only BioLogic; yadg is
GPL-3.0-or-later too and brings pandas, xarray, pint and a dozen more. impedance.py returns
frequencies and impedances only: the headers' metadata are read by this package's format
modules.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from impedance import preprocessing

from .measurement import ImportFileError, spectrum


def read_spectrum(path: Path, instrument: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The spectrum of ``path`` read by impedance.py's reader for ``instrument``.

    Parameters
    ----------
    path
        The file.
    instrument
        impedance.py's name of the format (``biologic``, ``gamry``, ``zplot``).

    Returns
    -------
    tuple of numpy.ndarray
        Frequency (Hz), Z′ and Z″ (Ω, Z″ = Im Z).

    Raises
    ------
    ImportFileError
        If the reader cannot parse the table, or a value is not finite.
    """
    try:
        frequency_Hz, z = preprocessing.readFile(str(path), instrument=instrument)
    except (ValueError, IndexError, AssertionError, UnboundLocalError, UnicodeError) as error:
        raise ImportFileError(
            f"{path}: its impedance table cannot be read as {instrument} "
            f"({type(error).__name__}: {error})"
        ) from None
    return spectrum(str(path), frequency_Hz, z)
