"""Bluesky documents through a durable broker: NATS JetStream.

The embedded default feeds the analysis worker over bluesky's 0MQ proxy, which keeps
nothing: a worker that is down misses runs, and a second worker sees every run twice. With
``[analysis] broker_url`` set, every RunEngine publishes its documents to JetStream instead
(`BrokerPublisher`) and analysis workers are competing consumers of its runs
(`acq.services.broker_analysis`). Two streams, both on the server's disk:

``ACQ_DOCUMENTS`` (subjects ``acq.documents.<run uid>``)
    Every document of every run, in the order the RunEngine emitted it, kept for
    `DOCUMENTS_RETENTION_S` (limits retention): a worker reads one run's documents from the
    first with an ordered consumer filtered on its subject.
``ACQ_RUNS`` (subject ``acq.runs``)
    One claim per run, published once the run's start document is stored (work-queue
    retention: a claim leaves the stream when a worker acknowledges it). The durable pull
    consumer `ANALYSIS_CONSUMER` hands each claim to one worker; a worker keeps it by
    reporting progress and acknowledges it once the run's analysis run is written, so a
    worker killed mid-run has the run redelivered to another after ``broker_ack_wait_s``,
    and claims published while no worker runs wait for the first that starts.

Each message carries a ``Nats-Msg-Id`` (run uid and the document's place in the run), so a
publish retried after a lost acknowledgement is stored once (JetStream's duplicate window).
Documents are msgpack with numpy arrays (msgpack-numpy), as bluesky-kafka serialises them.

Why JetStream rather than RabbitMQ, both of which this machine runs: a run's analysis needs
the run's documents in order from its first, also when a second worker takes over a run the
first left half read; a JetStream stream is a replayable log filtered by subject, where a
RabbitMQ queue hands each message to one consumer once (RabbitMQ's streams would do, with a
consumer-side filter). The work-queue stream gives competing consumers with redelivery on
the same server. For a site that runs Kafka, bluesky-kafka's publisher and consumers do the
same (README, Scaling).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import msgpack
import msgpack_numpy
import nats
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

logger = logging.getLogger(__name__)

DOCUMENTS_STREAM = "ACQ_DOCUMENTS"
DOCUMENTS_SUBJECT = "acq.documents"
RUNS_STREAM = "ACQ_RUNS"
RUNS_SUBJECT = "acq.runs"
#: The durable consumer of `RUNS_STREAM` every analysis worker pulls from.
ANALYSIS_CONSUMER = "analysis"
#: How long documents stay in `DOCUMENTS_STREAM`, s (a week: a worker down over a weekend
#: still catches up; Tiled keeps the runs for good).
DOCUMENTS_RETENTION_S = 7 * 24 * 3600.0
#: Wall seconds a connection attempt, a publish or a stream request may take.
REQUEST_TIMEOUT_S = 5.0
#: Wall seconds between attempts to publish a document the broker did not acknowledge.
RETRY_INTERVAL_S = 0.5


def document_subject(run_uid: str) -> str:
    """The subject of ``run_uid``'s documents."""
    return f"{DOCUMENTS_SUBJECT}.{run_uid}"


def encode(name: str, doc: dict[str, Any]) -> bytes:
    """A document as a message body (msgpack, numpy arrays by msgpack-numpy)."""
    return msgpack.packb((name, doc), default=msgpack_numpy.encode)


def decode(payload: bytes) -> tuple[str, dict[str, Any]]:
    """(name, document) of a message body made by `encode`."""
    name, doc = msgpack.unpackb(payload, object_hook=msgpack_numpy.decode)
    return name, doc


@dataclass(frozen=True)
class RunClaim:
    """What a worker is handed for one run: its uid, the station that ran it, and the
    circuit that station's config fits spectra to."""

    uid: str
    station: str
    circuit: str

    def encode(self) -> bytes:
        """As a message body."""
        return msgpack.packb({"uid": self.uid, "station": self.station, "circuit": self.circuit})

    @classmethod
    def decode(cls, payload: bytes) -> RunClaim:
        """From a message body made by `encode`."""
        fields = msgpack.unpackb(payload)
        return cls(fields["uid"], fields["station"], fields["circuit"])


async def connect(url: str) -> tuple[nats.NATS, JetStreamContext]:
    """A connection to the NATS server at ``url`` that reconnects for ever, its JetStream
    context, and both streams in place.

    Raises
    ------
    ConnectionError
        If the server does not answer, or has no JetStream (``nats-server -js``).
    """
    # nats-py retries a first connection as often as a reconnection (for ever, here): try
    # the port once first, so that a server that is not there is one clear error.
    host, _, port = url.removeprefix("nats://").rpartition(":")
    report = _ConnectionReport(url)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, int(port)), REQUEST_TIMEOUT_S
        )
        writer.close()
        client = await nats.connect(
            url,
            connect_timeout=REQUEST_TIMEOUT_S,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=RETRY_INTERVAL_S,
            error_cb=report.error,
            reconnected_cb=report.reconnected,
        )
    except (OSError, TimeoutError, ValueError) as error:
        raise ConnectionError(f"no NATS server answers at {url} ({error})") from error
    jetstream = client.jetstream(timeout=REQUEST_TIMEOUT_S)
    try:
        await ensure_streams(jetstream)
    except Exception as error:
        await client.close()
        raise ConnectionError(
            f"the NATS server at {url} has no JetStream to keep documents in ({error}); "
            "start it with JetStream enabled (nats-server -js)"
        ) from error
    return client, jetstream


class _ConnectionReport:
    """nats-py's callbacks for one connection: one line when it is lost and one when it is
    back, rather than nats-py's traceback at every attempt (every `RETRY_INTERVAL_S`)."""

    def __init__(self, url: str) -> None:
        self.url, self.failing = url, False

    async def error(self, error: Exception) -> None:
        if not self.failing:
            self.failing = True
            logger.warning(
                "broker at %s: %s; reconnecting every %g s",
                self.url,
                error or type(error).__name__,
                RETRY_INTERVAL_S,
            )

    async def reconnected(self) -> None:
        if self.failing:
            logger.warning("broker at %s: connected again", self.url)
        self.failing = False


async def ensure_streams(jetstream: JetStreamContext) -> None:
    """Create `DOCUMENTS_STREAM` and `RUNS_STREAM` on the server's disk, or update them to
    this configuration."""
    for config in (
        StreamConfig(
            name=DOCUMENTS_STREAM,
            subjects=[f"{DOCUMENTS_SUBJECT}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=DOCUMENTS_RETENTION_S,
        ),
        StreamConfig(
            name=RUNS_STREAM,
            subjects=[RUNS_SUBJECT],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
        ),
    ):
        try:
            await jetstream.add_stream(config)
        except BadRequestError:  # it exists with another configuration
            await jetstream.update_stream(config)


class BrokerPublisher:
    """A RunEngine callback that publishes every document to JetStream, in order, from a
    thread of its own, and a `RunClaim` for each run once its start document is stored.

    Parameters
    ----------
    url
        The NATS server (``nats://host:port``).
    station, circuit
        The station's name and the circuit its config fits spectra to (in each claim).

    Raises
    ------
    ConnectionError
        At construction, if the server does not answer or has no JetStream.

    A document the broker does not acknowledge (the server restarting, say) is published
    again every `RETRY_INTERVAL_S` until it is, the later ones queued behind it: the
    RunEngine never waits for the broker. The documents reach Tiled on their own path
    (`acq.runtime.streaming`), so what is still queued when the publisher is closed and its
    timeout passes is lost to the broker only; `close` says how many.
    """

    def __init__(self, url: str, station: str, circuit: str) -> None:
        self.url, self.station, self.circuit = url, station, circuit
        # The connection's loop runs for good on a thread of its own, so that it answers the
        # server's pings and reconnects between documents too.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="broker-publisher", daemon=True
        )
        self._thread.start()
        try:
            self._client, self._jetstream = asyncio.run_coroutine_threadsafe(
                connect(url), self._loop
            ).result()
        except BaseException:
            self._stop_loop()
            raise
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._pending = 0  # documents given and not yet stored
        self._pending_lock = threading.Lock()
        self._runs: dict[str, str] = {}  # descriptor / resource uid -> run uid
        self._sequence: dict[str, int] = {}  # run uid -> documents published
        self._pump = asyncio.run_coroutine_threadsafe(self._publish_queued(), self._loop)

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        with self._pending_lock:
            self._pending += 1
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (name, doc))

    @property
    def pending(self) -> int:
        """Documents given to the publisher and not yet stored by the broker."""
        with self._pending_lock:
            return self._pending

    def flush(self, timeout_s: float = 60.0) -> bool:
        """Wait until every document so far is stored; whether they all were in time."""
        deadline = time.monotonic() + timeout_s
        while self.pending:
            if time.monotonic() > deadline or self._pump.done():
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout_s: float = 60.0) -> None:
        """Publish what is queued (for at most ``timeout_s``), then disconnect."""
        if not self.flush(timeout_s):
            logger.warning(
                "%d document(s) not stored by the broker at %s in %g s; they are in Tiled only",
                self.pending,
                self.url,
                timeout_s,
            )
        self._pump.cancel()
        asyncio.run_coroutine_threadsafe(self._client.close(), self._loop).result(
            REQUEST_TIMEOUT_S
        )
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(REQUEST_TIMEOUT_S)

    async def _publish_queued(self) -> None:
        while True:
            name, doc = await self._queue.get()
            try:
                await self._publish(name, doc)
            except Exception:  # a document that cannot be published must not stop the rest
                logger.exception("%s document not published to the broker at %s", name, self.url)
            finally:
                with self._pending_lock:
                    self._pending -= 1

    async def _publish(self, name: str, doc: dict[str, Any]) -> None:
        run_uid = self._run_of(name, doc)
        if run_uid is None:
            logger.warning("%s document with no run it belongs to: not published", name)
            return
        sequence = self._sequence.get(run_uid, 0) + 1
        self._sequence[run_uid] = sequence
        await self._stored(
            document_subject(run_uid), encode(name, doc), f"{run_uid}/{sequence}", DOCUMENTS_STREAM
        )
        if name == "start":
            claim = RunClaim(run_uid, self.station, self.circuit)
            await self._stored(RUNS_SUBJECT, claim.encode(), f"{run_uid}/claim", RUNS_STREAM)
        elif name == "stop":
            self._sequence.pop(run_uid, None)
            self._runs = {key: run for key, run in self._runs.items() if run != run_uid}

    async def _stored(self, subject: str, payload: bytes, message_id: str, stream: str) -> None:
        """Publish until JetStream acknowledges it (once: the message id deduplicates)."""
        attempts = 0
        while True:
            try:
                await self._jetstream.publish(
                    subject, payload, stream=stream, headers={"Nats-Msg-Id": message_id}
                )
                if attempts:
                    logger.warning(
                        "broker at %s stored %s after %d retries", self.url, message_id, attempts
                    )
                return
            except Exception as error:
                if attempts == 0:
                    logger.warning(
                        "broker at %s did not store %s (%s); retrying every %g s",
                        self.url,
                        message_id,
                        error,
                        RETRY_INTERVAL_S,
                    )
                attempts += 1
                await asyncio.sleep(RETRY_INTERVAL_S)

    def _run_of(self, name: str, doc: dict[str, Any]) -> str | None:
        """The uid of the run ``doc`` belongs to (its descriptors and resources remembered)."""
        if name == "start":
            return doc["uid"]
        if name in ("stop", "descriptor", "resource", "stream_resource"):
            run_uid = doc.get("run_start")
            if name != "stop" and run_uid:
                self._runs[doc["uid"]] = run_uid
            return run_uid
        if name in ("event", "event_page", "stream_datum"):
            return self._runs.get(doc["descriptor"])
        if name in ("datum", "datum_page"):
            return self._runs.get(doc["resource"])
        return None
