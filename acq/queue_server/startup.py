"""Startup module of the station's RE Manager: ``start-re-manager --startup-module
acq.queue_server.startup``.

The queue server imports it each time its worker environment opens (and
``qserver-list-plans-devices`` imports it to describe the plans and devices). It builds the
same station from the same config as ``acq run`` and the IPython session:

- the config named by ``$ACQ_STATION_CONFIG`` (TOML, or the JSON that `acq.queue_server.launch`
  writes; the packaged default when unset);
- every device, connected, under the name users pass (``press``, ``pstat``, ``tomo``, ``det``,
  ``pc``);
- ``RE`` from `acq.runtime.make_run_engine`: the station metadata in every start document,
  documents to Tiled (``$ACQ_TILED_URI`` with the key in ``$TILED_API_KEY``, else the
  config's Tiled) and to the analysis worker's 0MQ proxy. Each run's documents are in Tiled
  before the run ends, so before the queue server reports the plan finished; a run the
  queue's ``re_abort`` ends closes with exit_status "abort" and `QUEUE_ABORT_REASON`;
- the plans of `plans`, annotated so that ``item_add`` checks device names, types and the
  config's limits (`acq.queue_server.queued_plans`);
- the process tethered to the manager (`acq.tethered`): it ends once the manager has gone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from acq.config import StationConfig, load_config, parse_config
from acq.queue_server import CONFIG_VARIABLE, QUEUE_ABORT_REASON, TILED_URI_VARIABLE
from acq.runtime.channel_access import configure_channel_access
from acq.tethered import tether_to

# The RE worker ends with the RE Manager that started it (a manager killed would otherwise
# leave it running, its plan holding the station's lock).
tether_to(os.getppid())


def _station_config() -> StationConfig:
    """The config named by ``$ACQ_STATION_CONFIG`` (the packaged default when unset)."""
    path = os.environ.get(CONFIG_VARIABLE)
    if path and Path(path).suffix == ".json":
        return parse_config(json.loads(Path(path).read_text()), source=path)
    return load_config(path or None)


_config = _station_config()
if _config.simulation is not None:
    configure_channel_access(_config.station.ca_server_port, _config.station.ca_repeater_port)

# Only now: ophyd starts Channel Access as it is imported, with the settings of that moment.
from acq.beamline import build_station, connect_station  # noqa: E402
from acq.queue_server.queued_plans import queue_plans  # noqa: E402
from acq.runtime.engine import make_run_engine  # noqa: E402
from acq.runtime.tiled_client import TILED_API_KEY_VARIABLE, connect, endpoint  # noqa: E402


def _tiled(config: StationConfig):
    """A client of the Tiled server named by ``$ACQ_TILED_URI`` (key in ``$TILED_API_KEY``),
    else of the config's."""
    uri = os.environ.get(TILED_URI_VARIABLE)
    if uri:
        return connect(uri, os.environ.get(TILED_API_KEY_VARIABLE) or None)
    return connect(*endpoint(config))


_station = build_station(_config)
connect_station(_station)
_engine = make_run_engine(
    _config, _tiled(_config), publish=True, press=_station.press, lock=_station.lock
)

RE = _engine.RE
_abort = RE.abort


def _abort_with_reason(reason: str = "") -> object:
    """`RE.abort`, with `QUEUE_ABORT_REASON` when no reason is given (the queue's worker
    gives none)."""
    return _abort(reason or QUEUE_ABORT_REASON)


RE.abort = _abort_with_reason  # type: ignore[method-assign]
globals().update(_station.devices())
globals().update(queue_plans(_config, _station))
