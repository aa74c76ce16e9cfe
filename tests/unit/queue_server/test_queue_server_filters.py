"""The station's additions to the queue server that need no server: where a decoded JSON value
holds a non-finite number, and the API key masked in an access-log line."""

from __future__ import annotations

import logging
import math

from acq.queue_server.finite import non_finite_values, refusal
from acq.queue_server.http_server import MaskApiKeyInQuery


def test_every_non_finite_number_is_found_with_its_path():
    item = {
        "kwargs": {"pressures_MPa": [6.0, math.nan], "c_rate": math.inf, "cycles": 2},
        "args": ["press", -math.inf],
        "meta": {"note": "NaN"},  # a string, not a number
    }
    assert list(non_finite_values(item, "item")) == [
        "item.kwargs.pressures_MPa[1] = nan",
        "item.kwargs.c_rate = inf",
        "item.args[1] = -inf",
    ]
    assert list(non_finite_values({"pressure_MPa": 25.0, "md": {"a": [1, 2]}}, "")) == []
    assert refusal(["c_rate = nan"]) == (
        "c_rate = nan: every number must be finite (not NaN or infinite)"
    )


def test_an_api_key_in_a_query_is_masked_in_the_access_log():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/status?api_key=s3cr3t&x=1", "1.1", 200),
        None,
    )
    assert MaskApiKeyInQuery().filter(record)
    assert "s3cr3t" not in record.getMessage()
    assert "/api/status?api_key=***&x=1" in record.getMessage()
