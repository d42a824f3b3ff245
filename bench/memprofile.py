"""The operator with a heap census on SIGUSR1, for `bench/run.py --profile heap`.

    python bench/memprofile.py OUT run --namespace NS ...

Nothing is traced while it runs (tracemalloc slowed the operator five-fold on two busy
cores). On SIGUSR1 it writes to OUT: RSS, the live Python objects by type (count and
shallow size, strings and bytes reached from containers included), and their total, so
that RSS can be split into Python objects and everything else (the interpreter and its
modules' code, C extensions, TLS buffers, allocator slack).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import sys
import types
from collections import Counter
from pathlib import Path
from types import FrameType

TOP = 40


def rss() -> str:
    return next(
        line for line in Path("/proc/self/status").read_text().splitlines() if "VmRSS" in line
    )


def large_buffers() -> int:
    """Bytearrays of 64 KiB or more (TLS read buffers), reachable or awaiting collection."""
    return sum(
        1
        for obj in gc.get_objects()
        for referent in gc.get_referents(obj)
        if isinstance(referent, bytearray) and len(referent) >= 65536
    )


def census(out: Path) -> None:
    # Closed connections' buffers can sit in reference cycles until a full collection:
    # what a collection frees is not the operator's to keep.
    before = f"before a full collection: {rss()}, {large_buffers()} large bytearrays"
    collected = gc.collect()
    seen: set[int] = set()
    sizes: Counter[str] = Counter()
    counts: Counter[str] = Counter()

    def count(obj: object) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        name = type(obj).__qualname__
        counts[name] += 1
        with contextlib.suppress(TypeError):
            sizes[name] += sys.getsizeof(obj)

    tracked = gc.get_objects()
    for obj in tracked:
        count(obj)
    for obj in tracked:
        for referent in gc.get_referents(obj):
            if not gc.is_tracked(referent):
                count(referent)
    lines = [
        before,
        f"after it ({collected} objects collected): {rss()}",
        f"python objects: {sum(sizes.values()) / 1e6:.1f} MB in {len(seen)}",
    ]
    lines += [
        f"{size / 1e6:8.2f} MB {counts[name]:9d}  {name}" for name, size in sizes.most_common(TOP)
    ]
    # Who holds the large buffers (the usual suspects: sockets' TLS and read buffers).
    holders: Counter[str] = Counter()
    for obj in tracked:
        for referent in gc.get_referents(obj):
            if isinstance(referent, bytearray | bytes) and len(referent) >= 65536:
                holder = f"{type(obj).__module__}.{type(obj).__qualname__}"
                holders[f"{holder}, {len(referent) // 1024} KiB each"] += len(referent)
    # Per-object costs show up as coroutines (tasks, daemons, workers) and as dicts: who
    # runs, and which objects hold the dicts.
    coroutines: Counter[str] = Counter(
        obj.cr_code.co_qualname for obj in tracked if isinstance(obj, types.CoroutineType)
    )
    lines.append("coroutines by function:")
    lines += [f"{n:9d}  {name}" for name, n in coroutines.most_common(15)]
    dict_holders: Counter[str] = Counter()
    for obj in tracked:
        if isinstance(obj, dict | list | tuple | types.FrameType | types.CoroutineType):
            continue
        for referent in gc.get_referents(obj):
            if isinstance(referent, dict):
                dict_holders[f"{type(obj).__module__}.{type(obj).__qualname__}"] += 1
    lines.append("dicts held directly by (containers and frames left out):")
    lines += [f"{n:9d}  {name}" for name, n in dict_holders.most_common(25)]
    lines.append("large (>= 64 KiB) bytes/bytearrays by holder:")
    lines += [f"{size / 1e6:8.2f} MB  {name}" for name, size in holders.most_common(10)]
    del tracked
    lines += allocators(out.with_suffix(".mallocstats"))
    out.write_text("\n".join(lines) + "\n")


def allocators(stats: Path) -> list[str]:
    """What is not Python objects: pymalloc's arenas (used or free blocks in them), and what
    glibc's malloc holds free (`malloc_trim` gives that back: the RSS it frees is it)."""
    stderr = os.dup(2)
    with stats.open("w") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(stderr, 2)
            os.close(stderr)
    wanted = (
        "# arenas allocated current",
        "# arenas highwater mark",
        "# bytes in allocated blocks",
        "# bytes in available blocks",
        "Total",
    )
    lines = ["pymalloc:"] + [
        "    " + " ".join(line.split())
        for line in stats.read_text().splitlines()
        if line.startswith(wanted)
    ]
    before = rss()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return [*lines, f"malloc_trim(0): {before} -> {rss()}"]


def main() -> int:
    out = Path(sys.argv[1])

    def on_signal(_: int, __: FrameType | None) -> None:
        census(out)

    signal.signal(signal.SIGUSR1, on_signal)
    from tierkeeper.cli import main as cli

    return cli(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
