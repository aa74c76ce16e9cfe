"""Replay: re-run the analysis of a recorded run read back from Tiled.

The result is a new analysis run (``replay: True`` in its start document) beside the live one;
for the same software it holds the same numbers, since live and replay share
`acq.analysis.pressure_point`.
"""

from __future__ import annotations

from ..analysis.live import analyse_recorded_run
from ..analysis.raw_run import RawRunError, finished_run


def replay_analysis(client, uid: str | int, circuit: str) -> str:
    """Analyse raw run ``uid`` again and write the result as a replay analysis run.

    Parameters
    ----------
    client
        Tiled client with the ``raw`` and ``analysis`` containers.
    uid
        The raw run: a uid or unique prefix, a scan id, or -N from the latest (see
        `acq.analysis.raw_run.finished_run`).
    circuit
        Equivalent circuit the spectra are fitted to.

    Returns
    -------
    str
        The new analysis run's uid.

    Raises
    ------
    RawRunError
        If the run is not in ``raw``, has no stop document, or lacks the cell metadata the
        analysis needs.
    """
    run = finished_run(client["raw"], uid, purpose="not analysed")
    start = run.metadata.get("start", {})
    if "cell" not in start:
        raise RawRunError(
            f"run {uid!r} carries no cell metadata (start['cell']): nothing this analysis can use"
        )
    return analyse_recorded_run(client, run, circuit, replay=True)
