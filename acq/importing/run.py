"""Import instrument files into the config's Tiled as raw runs, and analyse each.

Every file is read and checked before anything is written. Each becomes one run in ``raw``
written by bluesky-tiled-plugins' `TiledWriter` as the RunEngine's streaming writes
(`acq.runtime.streaming`: every array as Zarr; these documents hold plain values only), and
is then analysed from Tiled as the analysis worker analyses a run it missed
(`analyse_recorded_run`), so the analysis run names it and a catch-up does not analyse it
again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bluesky_tiled_plugins import TiledWriter

from conventions import data_keys
from conventions.start_keys import EQUIVALENT_PLAN, IMPORT_PLAN_NAME
from conventions.versions import package_versions

from ..analysis.eis_fit import drt_suggestion, parse_circuit
from ..analysis.eis_validity import drt
from ..analysis.live import analyse_recorded_run
from ..analysis.raw_run import wait_for_run
from ..analysis.results import ALL_ARRAYS_AS_ZARR
from ..config import StationConfig, parse_config
from ..runtime.tiled_client import connect, endpoint
from .documents import equivalent_sweep, run_documents
from .formats import read_file
from .measurement import Measurement

#: Distributions whose versions every imported run records.
IMPORT_PACKAGES = ("ssb-beamline", "impedance", "event-model")
#: Wall seconds an imported run may take to show in Tiled with its stop document.
RUN_VISIBLE_S = 30.0


@dataclass(frozen=True)
class ImportedRun:
    """One imported file: its raw run, the analysis run of it, and for each spectrum whose
    fit did not converge a line naming the circuit its DRT suggests (`circuit_hints`)."""

    path: Path
    measurement: Measurement
    raw_uid: str
    analysis_uid: str
    hints: tuple[str, ...] = ()


def import_files(
    config: StationConfig,
    paths: Sequence[Path],
    cell: Mapping[str, Any] | None = None,
    circuit: str | None = None,
) -> tuple[str, list[ImportedRun]]:
    """Read ``paths``, write each as a raw run to the config's Tiled, analyse each.

    Parameters
    ----------
    config
        The station: its Tiled, sample and cell, the analysis's circuit.
    paths
        Instrument files (`acq.importing.formats`).
    cell
        Cell keys (``[cell]`` of the config) that replace the config's for these files.
    circuit
        The equivalent circuit their spectra are fitted to (`acq.analysis.eis_fit`), if not
        the config's ``[analysis] circuit``: a file measured elsewhere need not be a cell of
        this station. The analysis run's ``eis_fit`` stream records it.

    Returns
    -------
    tuple
        The Tiled URI, and each file's `ImportedRun`.

    Raises
    ------
    ImportFileError
        For a file that is missing, garbled or of no known format (nothing is written).
    ConfigError
        If ``cell`` names an unknown key or makes an invalid cell.
    ValueError
        If ``circuit`` is not a circuit `parse_circuit` knows (nothing is written).
    """
    if circuit is None:
        circuit = config.analysis.circuit
    parse_circuit(circuit)
    if cell:
        raw = config.model_dump(mode="json")
        raw["cell"].update(cell)
        config = parse_config(raw, source="(with acq import --cell)")
    measurements = [(path, read_file(path, config.cell.cell_type)) for path in paths]
    uri, api_key = endpoint(config)
    client = connect(uri, api_key)
    writer = TiledWriter(client["raw"], max_array_size=ALL_ARRAYS_AS_ZARR)
    imported = []
    for path, measurement in measurements:
        uid = ""
        for name, doc in run_documents(measurement, start_metadata(config, path, measurement)):
            uid = uid or doc["uid"]
            writer(name, doc)
        run = wait_for_run(client["raw"], uid, RUN_VISIBLE_S)
        analysis_uid = analyse_recorded_run(client, run, circuit)
        hints = circuit_hints(client["analysis"][analysis_uid], measurement, circuit)
        imported.append(ImportedRun(path, measurement, uid, analysis_uid, hints))
    return uri, imported


def circuit_hints(analysis_run, measurement: Measurement, circuit: str) -> tuple[str, ...]:
    """A line for each spectrum of ``measurement`` whose fit to ``circuit`` (in its analysis
    run's ``eis_fit`` stream) did not converge and whose distribution of relaxation times
    suggests another circuit (`drt_suggestion`), to import the file with (``--circuit``)."""
    if not measurement.spectra:
        return ()
    converged = analysis_run["eis_fit"].read()["converged"].values
    hints = []
    for index, (fitted, spectrum) in enumerate(zip(converged, measurement.spectra, strict=True)):
        suggestion = drt_suggestion(circuit, drt(*spectrum))
        if not fitted and suggestion is not None:
            shows, suggested = suggestion
            hints.append(
                f"spectrum {index}: the fit of {circuit} did not converge; {shows}: "
                f"try --circuit {suggested}"
            )
    return tuple(hints)


def start_metadata(config: StationConfig, path: Path, measurement: Measurement) -> dict[str, Any]:
    """The start document of ``path``'s run: the station's sample and cell, ``plan_name``
    "import", the file (name, sha256, size), the instrument, its technique and header (as
    ``[name, value]`` pairs), and,
    for a spectrum on a sweep's grid, the `eis_sweep` that measures it (``acq replay
    --plan`` runs that)."""
    metadata = {
        **config.metadata(),
        "plan_name": IMPORT_PLAN_NAME,
        "source_file": path.name,
        "source_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "source_size_B": path.stat().st_size,
        "instrument": measurement.instrument,
        "technique": {"name": measurement.technique},
        # [name, value] pairs: the vendors' names hold '.' and '/', which event-model's
        # start-document schema refuses in a key.
        "instrument_header": [list(item) for item in measurement.metadata.items()],
        "start_datetime": measurement.measured_at or datetime.now().astimezone().isoformat(),
        "num_points": len(measurement.spectra) or len(measurement.half_cycles),
        "versions": package_versions(IMPORT_PACKAGES),
    }
    sweep = equivalent_sweep(measurement)
    if sweep is not None:
        metadata[EQUIVALENT_PLAN] = {
            "plan_name": "eis_sweep",
            "plan_args": {"potentiostat": data_keys.POTENTIOSTAT, "press": None, **asdict(sweep)},
        }
    return metadata
