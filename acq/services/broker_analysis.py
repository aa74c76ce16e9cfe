"""The analysis worker fed by the durable broker: a competing consumer of the runs in NATS
JetStream (`acq.runtime.document_broker`).

Every worker pulls run claims from the one durable consumer, so each run goes to one worker
however many run; the worker reads that run's documents from its first, in order, hands them
to a `acq.analysis.live.LiveAnalysis` of the run's own (the circuit its station's config
names), and acknowledges the claim once the analysis run is written. While it works on a run
it reports progress every third of ``broker_ack_wait_s``; a worker that is killed stops
reporting, and the claim goes to another worker, which reads the run again from its first
document. A worker that starts late gets the claims that waited; the broker keeps both
streams on its disk across a restart. Before analysing a claimed run the worker looks in
Tiled for an analysis run of it (a worker killed between writing and acknowledging), and a
run whose documents stop coming (its RunEngine process killed: ``acq recover`` closes it in
Tiled, not in the broker) is analysed from Tiled once Tiled has its stop document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError

from ..analysis.live import LiveAnalysis
from ..analysis.results import analysis_runs_of
from ..config import StationConfig
from ..runtime.document_broker import (
    ANALYSIS_CONSUMER,
    DOCUMENTS_STREAM,
    RUNS_STREAM,
    RUNS_SUBJECT,
    RunClaim,
    connect,
    decode,
    document_subject,
)

logger = logging.getLogger(__name__)

#: Wall seconds without a document of a claimed run after which the worker looks in Tiled
#: for the run's stop document (a run whose RunEngine died, closed by ``acq recover``).
QUIET_RUN_S = 60.0
#: Wall seconds a pull for a claim waits before it is made again.
PULL_WAIT_S = 1.0
#: Deliveries of one claim (workers killed, analyses failed) before the broker gives up on
#: it (``acq replay UID`` analyses the run by hand).
MAX_DELIVERIES = 5


async def serve_from_broker(
    config: StationConfig, client, report: Callable[[str], object], ready: Callable[[], object]
) -> None:
    """Analyse the runs the config's broker holds until cancelled.

    Parameters
    ----------
    config
        The station config: ``[analysis] broker_url``, ``broker_ack_wait_s``,
        ``broker_runs_at_once``.
    client
        Tiled client with the ``raw`` and ``analysis`` containers.
    report
        Called with one line per result.
    ready
        Called once the worker pulls from the consumer.
    """
    settings = config.analysis
    connection, jetstream = await connect(settings.broker_url)
    try:
        claims = await jetstream.pull_subscribe(
            RUNS_SUBJECT,
            durable=ANALYSIS_CONSUMER,
            stream=RUNS_STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=settings.broker_ack_wait_s,
                max_ack_pending=-1,
                max_deliver=MAX_DELIVERIES,
            ),
        )
        ready()
        working: set[asyncio.Task] = set()
        while True:
            if len(working) >= settings.broker_runs_at_once:
                await asyncio.wait(working, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                (message,) = await claims.fetch(1, timeout=PULL_WAIT_S)
            except (FetchTimeoutError, TimeoutError):
                continue
            task = asyncio.create_task(
                _analyse_claim(jetstream, message, client, report, settings.broker_ack_wait_s)
            )
            working.add(task)
            task.add_done_callback(working.discard)
    finally:
        await connection.close()


async def _analyse_claim(
    jetstream: JetStreamContext,
    message,
    client,
    report: Callable[[str], object],
    ack_wait_s: float,
) -> None:
    """Analyse the run one claim names; acknowledge the claim once it is analysed."""
    claim = RunClaim.decode(message.data)
    label = f"[{claim.uid[:8]}]"
    keeping = asyncio.create_task(_keep_claim(message, ack_wait_s / 3))
    try:
        if await asyncio.to_thread(lambda: analysis_runs_of(client["analysis"], claim.uid)):
            report(f"{label} already analysed (its claim acknowledged)")
        else:
            report(f"{label} claimed (station {claim.station}): reading its documents")
            analysis = LiveAnalysis(client, circuit=claim.circuit, report=report)
            await _analyse_documents(jetstream, claim.uid, analysis)
        await message.ack()
    except Exception as error:  # left unacknowledged: redelivered after ack_wait
        report(f"{label} not analysed ({type(error).__name__}: {error}); it is redelivered")
    finally:
        keeping.cancel()


async def _analyse_documents(
    jetstream: JetStreamContext, uid: str, analysis: LiveAnalysis
) -> None:
    """Hand run ``uid``'s documents, from its first, to ``analysis`` until its stop."""
    documents = await jetstream.subscribe(
        document_subject(uid),
        stream=DOCUMENTS_STREAM,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )
    try:
        while True:
            try:
                message = await documents.next_msg(timeout=QUIET_RUN_S)
            except TimeoutError:
                # Its RunEngine may have died: once Tiled holds the stop, analyse from there.
                if await asyncio.to_thread(_stopped_in_tiled, analysis.client, uid):
                    await asyncio.to_thread(analysis.analyse_from_tiled, uid)
                    return
                continue
            name, doc = decode(message.data)
            if name == "start" and ("cell" not in doc or doc.get("replay")):
                return  # not a station run: nothing to analyse
            if name == "stop":  # its failure is the claim's: redelivered
                await asyncio.to_thread(analysis, name, doc)
                return
            try:
                await asyncio.to_thread(analysis, name, doc)
            except Exception:  # as over 0MQ (`BackgroundWriter`): the rest is still analysed
                logger.exception("analysing a %r document of run %s failed", name, uid)
    finally:
        with contextlib.suppress(Exception):
            await documents.unsubscribe()


async def _keep_claim(message, interval_s: float) -> None:
    """Tell the broker the claim is being worked on, every ``interval_s``."""
    while True:
        await asyncio.sleep(interval_s)
        with contextlib.suppress(Exception):  # the connection reconnecting: next time
            await message.in_progress()


def _stopped_in_tiled(client, uid: str) -> bool:
    """Whether Tiled holds raw run ``uid`` with its stop document."""
    try:
        return bool(client["raw"][uid].metadata.get("stop"))
    except KeyError:
        return False
