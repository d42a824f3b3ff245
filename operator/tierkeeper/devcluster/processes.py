"""Child processes that never outlive their owner (Linux).

Each child runs in its own process group (a Ctrl-C in the terminal reaches the
owner, which then stops the children in order) and is sent SIGKILL by the kernel
when the thread that started it dies (PR_SET_PDEATHSIG), so even a `kill -9` of
a test run leaves no strays. A process is recorded as (pid, start time) so that
another process can stop it later without ever signalling a recycled pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessId:
    """A process, told apart from a later one that reuses its pid."""

    pid: int
    start_time: int

    @classmethod
    def of(cls, pid: int) -> ProcessId | None:
        start_time = _start_time(pid)
        return None if start_time is None else cls(pid, start_time)

    def alive(self) -> bool:
        return _start_time(self.pid) == self.start_time


def _start_time(pid: int) -> int | None:
    """Clock ticks after boot at which `pid` started; None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _die_with_parent() -> Callable[[], None]:
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)  # resolved before the fork: the child only calls

    def preexec() -> None:
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def spawn(
    argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` with stdout and stderr appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            process_group=0,
            preexec_fn=_die_with_parent(),
        )


def stop(process: ProcessId, *, group: bool = True, timeout: float = 15.0) -> None:
    """SIGTERM the process (and its group, if it leads one of its own, as `spawn`'s
    children do), then SIGKILL if it has not exited in time."""
    kill = os.killpg if group else os.kill
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not process.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            kill(process.pid, sig)
        deadline = time.monotonic() + timeout
        while process.alive() and time.monotonic() < deadline:
            time.sleep(0.1)


def stop_child(child: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Like `stop`, for a child of ours (which must also be reaped)."""
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
