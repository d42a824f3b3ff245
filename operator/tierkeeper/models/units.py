"""Kubernetes quantities, Go-style durations and cron schedules: patterns and parsers.

The patterns are also written into the CRDs, so admission and `resolve()` accept
exactly the same strings.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field

QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d))+$"
SCHEDULE_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|hourly)|"
    r"[0-9*/,\-]+ [0-9*/,\-]+ [0-9*/,\-?]+ [0-9A-Za-z*/,\-]+ [0-9A-Za-z*/,\-?]+)$"
)

_SUFFIX_BYTES = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
}
_DURATION_SECONDS = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
}

Quantity = Annotated[str, Field(pattern=QUANTITY_PATTERN, max_length=32)]
Duration = Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32)]
# A cron line of the five fields CronJobs (and, with seconds added, CloudNativePG) accept:
# the pattern admits the characters, `check_schedule` the values in range.
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    (
        "month",
        1,
        12,
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ),
    ("day of week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)


def _cron_value(name: str, text: str, low: int, names: tuple[str, ...]) -> int:
    lowered = text.lower()
    if lowered in names:
        return low + names.index(lowered)
    if not text.isdigit():
        raise ValueError(f"{name}: {text!r} is not a number{' or a name' if names else ''}")
    return int(text)


def _check_cron_field(field: str, name: str, low: int, high: int, names: tuple[str, ...]) -> None:
    for item in field.split(","):
        span, _, step = item.partition("/")
        if step and (not step.isdigit() or int(step) < 1):
            raise ValueError(f"{name}: step {step!r} must be a whole number from 1")
        if span in ("*", "?"):
            if span == "?" and name not in ("day of month", "day of week"):
                raise ValueError(f"{name}: '?' stands only for a day")
            continue
        first, _, last = span.partition("-")
        start = _cron_value(name, first, low, names)
        end = _cron_value(name, last, low, names) if last else start
        if not low <= start <= end <= high:
            raise ValueError(f"{name}: {span!r} is outside {low}-{high}")


def check_schedule(schedule: str) -> str:
    """`schedule` if every field of the cron line is in range (`61 * * * *` is not)."""
    if schedule.startswith("@"):
        return schedule
    fields = schedule.split()
    if len(fields) != len(_CRON_FIELDS):
        raise ValueError("a cron schedule has five fields: minute hour day month weekday")
    for field, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        _check_cron_field(field, name, low, high, names)
    return schedule


CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def numeric_schedule(schedule: str) -> str:
    """A valid cron line with macros expanded, names as numbers and `?` as `*`: the
    form a plain matcher (object-store.sh's) understands."""
    line = CRON_MACROS.get(schedule, schedule)
    fields = []
    for field, (name, low, _, names) in zip(line.split(), _CRON_FIELDS, strict=True):
        items = []
        for item in field.split(","):
            span, slash, step = item.partition("/")
            if span in ("*", "?"):
                items.append("*" + slash + step)
                continue
            bounds = [str(_cron_value(name, b, low, names)) for b in span.split("-")]
            items.append("-".join(bounds) + slash + step)
        fields.append(",".join(items))
    return " ".join(fields)


Schedule = Annotated[
    str, Field(pattern=SCHEDULE_PATTERN, max_length=128), AfterValidator(check_schedule)
]


def quantity_bytes(quantity: str) -> int:
    """Bytes in a Kubernetes quantity such as `512Mi` or `1.5G` (rounded up)."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)", quantity)
    if match is None or match.group(2) not in _SUFFIX_BYTES:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    exact = Decimal(match.group(1)) * _SUFFIX_BYTES[match.group(2)]
    return int(exact.to_integral_value(rounding="ROUND_CEILING"))


# What Kubernetes' resource.Quantity reads after the number: (base, exponent, decimal).
_QUANTITY_SUFFIXES = {
    **{s: (10, e, True) for s, e in (("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3))},
    **{s: (10, e, True) for s, e in (("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18))},
    **{s: (2, 10 * (i + 1), False) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}
_DECIMAL_SUFFIX = {e: s for s, (b, e, _) in _QUANTITY_SUFFIXES.items() if b == 10}
_BINARY_SUFFIX = {e // 10: s for s, (b, e, _) in _QUANTITY_SUFFIXES.items() if b == 2}
_QUANTITY_FORM = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[+-]?[0-9]*)")
_MILLI = 1000
_INT64_MAX = 2**63 - 1


def _quantity_suffix(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a quantity's suffix; format is "decimal", "binary" or
    "exponent" (`1e3`)."""
    if suffix in _QUANTITY_SUFFIXES:
        base, exponent, decimal = _QUANTITY_SUFFIXES[suffix]
        return base, exponent, "decimal" if decimal else "binary"
    if len(suffix) > 1 and suffix[0] in "eE" and re.fullmatch(r"[+-]?[0-9]+", suffix[1:]):
        return 10, int(suffix[1:]), "exponent"
    raise ValueError(f"not a Kubernetes quantity: {suffix!r} is no suffix")


def canonical_quantity(quantity: str) -> str:
    """`quantity` as the API server stores it in a resource list (a claim's requests, a
    container's requests and limits): Kubernetes' resource.Quantity parsed
    (ParseQuantity), rounded up to milliunits (core/v1 SetDefaults_ResourceList) and
    written back (CanonicalizeBytes). E.g. 1024Mi -> 1Gi, 1.5Gi -> 1536Mi, 1.5G -> 1500M,
    0.5 -> 500m, 1000 -> 1k, 1n -> 1m. A field the server keeps whole (a StatefulSet's
    volumeClaimTemplates) holds what we apply only if we apply this form.

    Kept from ParseQuantity: a string its fast path (int64) finds canonical stays as
    written (`01Gi`, `+1Gi`, `5.`), unless finer than 1m; a binary value above the largest
    int64 is capped to it. From CanonicalizeBytes: a binary value below 1024 or fractional
    is written in decimal; the number loses its trailing zeros but those that make the
    exponent a multiple of 3 (of 1024 for binary); a decimal exponent outside n..E has no
    suffix (1000000P -> 1).
    """
    match = _QUANTITY_FORM.fullmatch(quantity)
    if match is None or not (match.group(2) or match.group(3)):
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    if quantity == "0":
        return quantity
    sign = match.group(1).replace("+", "")
    num, denom = match.group(2).lstrip("0") or "0", match.group(3) or ""
    base, exponent, form = _quantity_suffix(match.group(4))
    value = int(num + denom)
    if form == "binary":
        fast = not denom and 15 - len(num) - exponent * 3 // 10 - 1 >= 0
        if fast and value << exponent <= _INT64_MAX and value & 7:
            return quantity
    else:
        scale, shifted = exponent - len(denom), num + denom
        fast = len(shifted) <= 18 and scale >= -3
        if fast and scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
            return quantity
    # The value in milliunits, rounded up (away from zero: the sign is kept aside).
    numerator = value * base ** max(exponent, 0) * _MILLI
    millis = -(-numerator // (10 ** len(denom) * base ** max(-exponent, 0)))
    if millis == 0:
        return "0"
    if form == "binary":
        millis = min(millis, _INT64_MAX * _MILLI)
        if millis >= 1024 * _MILLI and millis % _MILLI == 0:
            amount, times = millis // _MILLI, 0
            while amount % 1024 == 0:
                amount, times = amount // 1024, times + 1
            return f"{sign}{amount}{_BINARY_SUFFIX.get(times, '')}"
        form = "decimal"
    amount, exponent = millis, -3
    while amount % 10 == 0:
        amount, exponent = amount // 10, exponent + 1
    amount, exponent = amount * 10 ** (exponent % 3), exponent - exponent % 3
    if form == "decimal":
        return f"{sign}{amount}{_DECIMAL_SUFFIX.get(exponent, '')}"
    return f"{sign}{amount}{f'e{exponent}' if exponent else ''}"


def duration_seconds(duration: str) -> int:
    """Whole seconds in a duration such as `2h`, `1h30m` or `90s` (rounded up)."""
    parts = re.findall(r"([0-9]+)(ms|s|m|h|d)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    total = sum((Decimal(n) * _DURATION_SECONDS[u] for n, u in parts), Decimal(0))
    return int(total.to_integral_value(rounding="ROUND_CEILING"))


def _cron_set(field: str, low: int, high: int) -> frozenset[int]:
    """The values a numeric cron field (`numeric_schedule`'s form) matches."""
    values: set[int] = set()
    for item in field.split(","):
        span, _, step = item.partition("/")
        if span == "*":
            start, end = low, high
        else:
            first, _, last = span.partition("-")
            start = int(first)
            end = int(last) if last else (high if step else start)
        values.update(range(start, end + 1, int(step) if step else 1))
    return frozenset(values)


def next_fire(schedule: str, after: datetime) -> datetime:
    """The first minute strictly after `after` (UTC) at which a valid cron `schedule`
    fires. As cron does, a day matches on day of month or day of week when both are
    restricted. Found a day at a time, so a yearly schedule costs a year of days."""
    fields = numeric_schedule(schedule).split()
    minutes, hours, days, months, weekdays = (
        _cron_set(field, low, high)
        for field, (_, low, high, _) in zip(fields, _CRON_FIELDS, strict=True)
    )
    any_day, any_weekday = fields[2] == "*", fields[4] == "*"
    start = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    # Every schedule that passes check_schedule fires within eight years (29 February).
    for _ in range(8 * 366 + 1):
        on_day = day.day in days
        on_weekday = (day.isoweekday() % 7) in weekdays
        matched = on_day and on_weekday if any_day or any_weekday else on_day or on_weekday
        if day.month in months and matched:
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    moment = day.replace(hour=hour, minute=minute)
                    if moment >= start:
                        return moment
        day += timedelta(days=1)
    raise ValueError(f"the schedule {schedule!r} never fires")
