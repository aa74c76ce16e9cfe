"""Channel Access settings that keep a simulated station's servers on this machine's loopback.

Their clients are set up on their side (``acq.runtime.channel_access``).
"""

#: Environment of the simulated IOCs (variables already set are kept).
LOOPBACK_SERVER_ENVIRONMENT = {
    "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
    "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
    "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
    # caproto batches monitor updates under load; cap the delay at 20 ms.
    "CAPROTO_SERVER_MAX_LATENCY_SEC": "0.02",
}
