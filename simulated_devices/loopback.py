"""Channel Access settings that keep a simulated station on this machine's loopback."""

#: Environment for both the simulated IOCs and their clients.
LOOPBACK_ENVIRONMENT = {
    "EPICS_CA_ADDR_LIST": "127.0.0.1",
    "EPICS_CA_AUTO_ADDR_LIST": "NO",
    "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
    "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
    "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
    # Room for spectra, traces and messages as waveforms.
    "EPICS_CA_MAX_ARRAY_BYTES": "20000000",
    # caproto batches monitor updates under load; cap the delay at 20 ms.
    "CAPROTO_SERVER_MAX_LATENCY_SEC": "0.02",
}
