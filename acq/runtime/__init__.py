"""What runs a station's plans: the RunEngine, its streams to Tiled, its scan ids, and the
Channel Access and Tiled settings every way in shares.

=================  ===========================================================================
`engine`           `make_run_engine`: the RunEngine of a station config (metadata, scan ids,
                   Tiled, the analysis worker's 0MQ stream)
`streaming`        `BackgroundWriter`, `TiledBackgroundWriter`: documents to Tiled off the
                   RunEngine, and which runs went to the backup instead
`open_runs`        `OpenRunJournal`: an entry per open run, locked by its process while it lives
`recovery`         `recover`: runs whose process died closed, and the backed-up runs uploaded
                   into Tiled, each completed in place
`scan_ids`         `StationScanIds`: scan ids per station across processes
`tiled_client`     `endpoint`, `connect`: the station's Tiled and its containers
`channel_access`   `configure_channel_access`: loopback Channel Access for a simulated station
=================  ===========================================================================

Import from the modules: this package imports none of them, so `channel_access` can be set up
before anything imports ophyd (which starts Channel Access as it is imported).
"""
