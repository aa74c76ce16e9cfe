"""Parsing the text headers of instrument files."""

from __future__ import annotations

import math
import re
from datetime import datetime

from .measurement import ImportFileError

#: Two or more spaces (or a tab): what separates a setting's name from its value in an
#: EC-Lab header's settings block.
SETTING_GAP = re.compile(r"\s{2,}|\t")


def key_values(lines: list[str], separator: str) -> dict[str, str]:
    """``name<separator>value`` lines as a dict (names and values stripped); lines without
    the separator, or with an empty name, are left out; a repeated name keeps its first
    value."""
    found: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(separator)
        if sep and name.strip():
            found.setdefault(name.strip(), value.strip())
    return found


def settings_block(lines: list[str]) -> dict[str, str]:
    """``name   value`` lines (two or more spaces between) as a dict."""
    found: dict[str, str] = {}
    for line in lines:
        parts = SETTING_GAP.split(line.strip(), maxsplit=1)
        if len(parts) == 2 and ":" not in parts[0]:
            found.setdefault(parts[0], parts[1].strip())
    return found


def iso_datetime(text: str | None, formats: tuple[str, ...]) -> str | None:
    """``text`` in the first of ``formats`` (`datetime.strptime`) it matches, as ISO 8601;
    None if there is no text or it matches none."""
    if not text:
        return None
    for form in formats:
        try:
            return datetime.strptime(text.strip(), form).isoformat()
        except ValueError:
            continue
    return None


def header_number(source: str, name: str, text: str | None, scale: float = 1.0) -> float | None:
    """Header value ``name`` as a number times ``scale`` (a unit change); None if the header
    has no such value.

    Raises
    ------
    ImportFileError
        If the value is not a finite number.
    """
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ImportFileError(f"{source}: header value {name} is {text!r}, not a number")
    return value * scale
