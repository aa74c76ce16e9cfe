"""Fixtures of the plans' unit tests (beside the fake station's, `tests.unit.conftest`)."""

from __future__ import annotations

import pytest


@pytest.fixture
def symmetric(sim, fake_station):
    """The fake station's potentiostat on a symmetric Li | SSE | Li cell (no capacity)."""
    pstat = fake_station.potentiostat
    for signal, value in ((pstat.cell_type, "symmetric"), (pstat.nominal_capacity_mAh, 0.0)):
        signal.put(value)
        sim.add_read_handler_for(signal, value)
    return pstat
