"""``acq import FILE…``: instrument files measured elsewhere, as Bluesky runs in Tiled.

Each file is read by the module of its format (`biologic`, `gamry`, `zplot`, chosen by
`formats.read_file`) into a `Measurement`, turned into a run's documents in the station's own
streams and data keys (`documents`), written to the config's Tiled and analysed as a
recorded run (`run`), its spectra fitted to the config's circuit or to ``--circuit``.
"""

from .measurement import ImportFileError, Measurement
from .run import import_files

__all__ = ["ImportFileError", "Measurement", "import_files"]
