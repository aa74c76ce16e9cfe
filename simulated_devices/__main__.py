"""``python -m simulated_devices``: serve a simulated station (see `station.main`)."""

from .station import main

main()
