"""A bluesky suspender that trips however busy the RunEngine's event loop is.

bluesky's `SuspenderBase` makes the ``asyncio.Event`` a suspension waits on from the thread
that delivers the signal's monitor (ophyd's), by asking the RunEngine's loop to make it and
waiting 0.1 s for the answer. A loop busy for longer (staging an area detector puts and waits
on its PVs from the loop; a slow document callback) loses the trip: the suspender raises
"Could not create the suspender event" in ophyd's callback thread, and the plan runs on, with
the beam down or the pressure lost, until the signal changes again. Seen on ``acq run
ct_scan`` with the beam dropped mid scan.

Since Python 3.10 an ``asyncio.Event`` binds to a loop only when first waited on, so it can be
made in any thread: `TripOnABusyLoop` makes it at once. bluesky then sets it through
``loop.call_soon_threadsafe`` and the RunEngine waits on it in its loop, as before.
"""

from __future__ import annotations

import asyncio


class TripOnABusyLoop:
    """Mixin before a `bluesky.suspenders.SuspenderBase` subclass (see the module)."""

    _ev: asyncio.Event | None
    RE: object | None

    def _SuspenderBase__make_event(self) -> asyncio.Event | None:
        """Replaces `SuspenderBase.__make_event` (name-mangled): the event, made here."""
        if self._ev is None and self.RE is not None:
            self._ev = asyncio.Event()
        return self._ev
