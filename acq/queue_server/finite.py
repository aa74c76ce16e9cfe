"""Where a decoded JSON value holds a number that is not finite (NaN, ±inf).

JSON has no such numbers, but Python's decoder reads ``NaN`` and ``Infinity``, and the queue
server's range checks let NaN through: the station's RE Manager and HTTP server refuse them
(`acq.queue_server.re_manager`, `acq.queue_server.http_server`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any


def non_finite_values(value: Any, where: str) -> Iterator[str]:
    """``"<path> = <value>"`` for each non-finite float in ``value`` (nested mappings and
    sequences included), the path starting at ``where``."""
    if isinstance(value, float) and not math.isfinite(value):
        yield f"{where} = {value}"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from non_finite_values(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from non_finite_values(item, f"{where}[{index}]")


def refusal(problems: list[str]) -> str:
    """The one line refusing the values `non_finite_values` found."""
    return f"{'; '.join(problems)}: every number must be finite (not NaN or infinite)"
