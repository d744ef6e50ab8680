"""Durations: ``90s``, ``10m``, ``2h``, ``1h30m``, ``500ms``, ``1d`` or a number of seconds."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_PATTERN = r"^\s*(?:\d+(?:\.\d+)?|(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+)\s*$"
_WHOLE = re.compile(DURATION_PATTERN)
MAX_SECONDS = 366 * 86400.0


def parse_duration(value: object) -> float:
    """Seconds as a float; raises ValueError with a readable message for anything else.

    Accepts a non-negative number (seconds) or a string of one or more ``<number><unit>`` parts with units
    ms, s, m, h, d (``"1h30m"``); a bare number in a string means seconds.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"invalid duration {value!r}: expected e.g. 90s, 10m, 2h, 1h30m or a number of seconds")
    if isinstance(value, str):
        text = value.strip()
        if not _WHOLE.match(value):
            raise ValueError(f"invalid duration {value!r}: expected e.g. 90s, 10m, 2h, 1h30m or a number of seconds")
        if _PART.search(text) is None:
            seconds = float(text)
        else:
            units = [unit for _, unit in _PART.findall(text)]
            if len(set(units)) != len(units):
                raise ValueError(f"invalid duration {value!r}: a unit appears twice")
            seconds = sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text))
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must be a non-negative number of seconds")
    if seconds > MAX_SECONDS:
        raise ValueError(f"invalid duration {value!r}: longer than 366 days")
    return seconds
