"""The queue-server way in: the RE Manager's startup module (`acq.queue_server.startup`), the
plans as the queue server validates them (`acq.queue_server.queued_plans`), and the
processes ``acq queue`` runs (`acq.queue_server.launch`)."""

#: Environment variable naming the station config the startup module builds (TOML, or the
#: JSON `acq.queue_server.launch` writes).
CONFIG_VARIABLE = "ACQ_STATION_CONFIG"
#: Environment variable naming the Tiled server the startup module writes to (default: the
#: config's).
TILED_URI_VARIABLE = "ACQ_TILED_URI"
#: The reason in the stop document of a run the queue's ``re_abort`` ends (the queue server's
#: worker calls ``RE.abort()`` with none).
QUEUE_ABORT_REASON = "aborted through the queue server (re_abort)"
