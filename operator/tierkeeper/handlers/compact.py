"""JSON values kept for an object's lifetime, with their repeated strings shared.

A parsed document has strings of its own: the same keys ("lastTransitionTime", "reason",
...), reasons and timestamps in every Environment's status. Kept in an index for each of
a thousand objects, they were more than half of each status's size.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

# Longer strings (messages, images) rarely repeat between objects.
SHARED_UP_TO = 40


def compact(value: Any) -> Any:
    """A copy of `value` whose keys and short strings are interned."""
    if isinstance(value, Mapping):
        return {sys.intern(str(key)): compact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [compact(item) for item in value]
    if isinstance(value, str) and len(value) <= SHARED_UP_TO:
        return sys.intern(value)
    return value
