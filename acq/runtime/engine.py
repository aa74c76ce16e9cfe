"""The RunEngine of a station, with the metadata every run carries and Tiled streaming."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import bluesky.preprocessors as bpp
import zmq
from bluesky import RunEngine
from bluesky.callbacks.zmq import Publisher
from bluesky.utils import Msg
from tiled.client.container import Container

from conventions.versions import package_versions
from devices.press import PressureCell
from devices.station_lock import StationLock
from plans.metadata import label_runs

from ..config import StationConfig
from .document_broker import BrokerPublisher
from .open_runs import OpenRunJournal, open_runs_directory
from .scan_ids import SCAN_ID_FILE, StationScanIds
from .streaming import BackgroundWriter, TiledBackgroundWriter, backup_directory

logger = logging.getLogger(__name__)

#: Wall seconds a finished run's documents get to reach Tiled before the run ends anyway.
FLUSH_AT_STOP_TIMEOUT_S = 120.0
#: Wall seconds a new 0MQ publisher gets to join the proxy before documents flow.
PUBLISHER_JOIN_S = 0.5
#: Milliseconds a closing publisher keeps trying to deliver queued documents.
PUBLISHER_LINGER_MS = 2000
#: Distributions whose versions go into every start document.
RECORDED_PACKAGES = (
    "ssb-beamline",
    "bluesky",
    "ophyd",
    "pyepics",
    "caproto",
    "event-model",
    "tiled",
    "bluesky-tiled-plugins",
    "databroker",
    "numpy",
    "scipy",
    "scikit-image",
    "h5py",
)


def _flush_at_stop(
    writer: BackgroundWriter, journal: OpenRunJournal
) -> Callable[[str, dict], None]:
    """A ``stop``-document callback that waits until ``writer`` has written the whole run, then
    removes the run's entry from ``journal``: an entry stays (locked until the process ends,
    then closed by ``acq recover``) unless the stop document is known to be written."""

    def flush(name: str, doc: dict) -> None:
        if writer.flush(FLUSH_AT_STOP_TIMEOUT_S):
            journal(name, doc)
        else:
            logger.error(
                "run %s: documents still queued for Tiled after %s s; its entry in the "
                "journal of open runs is kept",
                doc["run_start"],
                FLUSH_AT_STOP_TIMEOUT_S,
            )

    return flush


def _abort_reason_kept(RE: RunEngine) -> Callable:
    """A preprocessor putting the reason given to ``RE.abort(reason)`` into the stop document.

    bluesky's `run_wrapper` closes an aborted run with ``exit_status`` alone: the reason is
    kept on the RunEngine (``RE._reason``, which it otherwise uses only for runs it closes
    itself), not on the `RequestAbort` thrown into the plan.
    """

    def keep_reason(msg: Msg) -> Msg:
        if (
            msg.command == "close_run"
            and msg.kwargs.get("exit_status") == "abort"
            and not msg.kwargs.get("reason")
            and getattr(RE, "_reason", "")
        ):
            return msg._replace(kwargs={**msg.kwargs, "reason": RE._reason})
        return msg

    return functools.partial(bpp.msg_mutator, msg_proc=keep_reason)


def _drop_tolerating_rewind(RE: RunEngine) -> None:
    """Let a plan drop an event bundle that a suspension already discarded.

    A suspension landing between a ``create`` and its ``save`` rewinds the RunEngine's run
    bundler to the last checkpoint at once, discarding the open bundle; the plan's generator
    still sits inside ``trigger_and_read``. Resuming replays the bundle, but ``RE.abort()``
    (Ctrl-C while suspended) throws into the generator, whose exception path sends ``drop``,
    and bluesky's bundler refuses it (``IllegalMessageSequence``): the abort then fails
    instead of closing the run (``tests/unit/test_run_engine.py``). Here a ``drop`` with no
    bundle open drops nothing.
    """
    drop = RE._command_registry["drop"]

    async def drop_if_bundling(msg: Msg) -> object:
        bundler = RE._run_bundlers.get(msg.run)
        if bundler is not None and not bundler.bundling:
            return None
        return await drop(msg)

    RE.register_command("drop", drop_if_bundling)


@dataclass
class Engine:
    """A RunEngine, the Tiled writer subscribed to it (None when not streaming) and the
    publisher feeding the analysis worker, over 0MQ or the broker (None when not
    publishing)."""

    RE: RunEngine
    writer: TiledBackgroundWriter | None
    publisher: Publisher | BrokerPublisher | None = None

    def run(self, plan: Iterable[Msg]) -> tuple[str, ...]:
        """Run ``plan``; return the uids of the runs it opened."""
        uids = self.RE(plan)
        if not isinstance(uids, tuple):  # call_returns_result is off in make_run_engine
            raise TypeError(f"RunEngine returned {type(uids).__name__}, not run uids")
        return uids

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until every document so far has reached Tiled (or its backup)."""
        if self.writer is not None and not self.writer.flush(timeout_s):
            raise TimeoutError(f"documents still queued for Tiled after {timeout_s} s")

    def close(self, timeout_s: float = 60.0) -> None:
        """Flush to Tiled, then close the publisher."""
        self.flush(timeout_s)
        if self.publisher is not None:
            self.publisher.close()
            self.publisher = None


def make_run_engine(
    config: StationConfig,
    client: Container | None = None,
    *,
    publish: bool = False,
    press: PressureCell | None = None,
    lock: StationLock | None = None,
) -> Engine:
    """A RunEngine for ``config``'s station.

    Every start document carries the station, sample, cell geometry and masses and the
    software versions (``RE.md``); scan ids count up per station across processes
    (`acq.runtime.scan_ids`). With ``client`` (a Tiled client holding the ``raw``
    container) documents stream to ``raw`` off the acquisition thread, with a local backup
    under ``<data_dir>/backup``, and a run ends once all its documents are written: what
    ``RE(...)`` returns can be read back at once (``db[uid]``); each run is in the journal of
    open runs under ``<data_dir>/open_runs`` until then (`acq.runtime.open_runs`), so that
    ``acq recover`` closes it if its process dies first. With ``publish`` every document
    also goes to the analysis worker (`acq.services.analysis_worker`): through the config's
    broker when ``[analysis] broker_url`` names one (`acq.runtime.document_broker`; a broker
    that does not answer raises ``ConnectionError``), else to its 0MQ proxy.
    Every start document also carries its ``start_datetime`` and, given the ``press``, its
    ``pressure_MPa`` (`plans.metadata.label_runs`). Given the station's ``lock``, every plan
    holds it while it runs (staged around it: `devices.station_lock`), and one refused when
    another process holds it. Every run has an ``interruptions`` stream:
    an event for each pause, resumption and suspension (bluesky's ``record_interruptions``).
    """
    RE = RunEngine(
        {}, scan_id_source=StationScanIds(config.station.data_dir.resolve() / SCAN_ID_FILE)
    )
    # Pauses and suspensions (`plans.pressure_hold`) as events of each run's `interruptions`.
    RE.record_interruptions = True
    _drop_tolerating_rewind(RE)
    RE.md.update(config.metadata())
    RE.md["versions"] = package_versions(RECORDED_PACKAGES)
    RE.preprocessors.append(label_runs(press))
    RE.preprocessors.append(_abort_reason_kept(RE))
    if lock is not None:
        RE.preprocessors.append(functools.partial(bpp.stage_wrapper, devices=[lock]))
    writer = None
    if client is not None:
        journal = OpenRunJournal(open_runs_directory(config.station.data_dir))
        # Before the writer: every run of which Tiled or the backup holds anything has an entry.
        RE.subscribe(journal, "start")
        writer = TiledBackgroundWriter(client["raw"], backup_directory(config.station.data_dir))
        RE.subscribe(writer)
        # After the writer, so it runs once the stop document is queued to it.
        RE.subscribe(_flush_at_stop(writer, journal), "stop")
    publisher: Publisher | BrokerPublisher | None = None
    if publish and config.analysis.broker_url:
        publisher = BrokerPublisher(
            config.analysis.broker_url, config.station.name, config.analysis.circuit
        )
        RE.subscribe(publisher)
    elif publish:
        publisher = Publisher(f"127.0.0.1:{config.analysis.zmq_in_port}")
        # bluesky leaves the socket's LINGER at -1: closing (or garbage-collecting) a
        # publisher whose proxy has gone would then block forever on undelivered documents.
        publisher._socket.setsockopt(zmq.LINGER, PUBLISHER_LINGER_MS)
        RE.subscribe(publisher)
        # A 0MQ PUB socket drops what it sends until it has connected to the proxy and
        # learned the worker's subscription (the "slow joiner"): give it that time before
        # the first run, or the first start document is lost.
        time.sleep(PUBLISHER_JOIN_S)
    return Engine(RE, writer, publisher)
