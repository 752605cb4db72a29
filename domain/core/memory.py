"""The memory budget of a process that renders PDFs.

WeasyPrint (Pango, fontconfig, HarfBuzz) keeps ~235 KB of native memory per PDF that the process never returns.
A worker process measures its size once warmed up (after WARMUP_RENDERS renders: fonts and caches loaded), and
stops rendering once it grew `WORKER_MAX_GROWTH` percent (8) over it: the task at hand hands what is left to the
queue, the process exits after it and the consumer starts a fresh one (worker.py). 8% leaves room for the one
render between two checks, so a process never passes 10%. Web processes are recycled by gunicorn instead.
"""
from __future__ import annotations

import os

WARMUP_RENDERS = 3
_memory: dict[str, float | int | None] = {"renders": 0, "warm": None, "growth": None}


def rss_bytes() -> int:
    """This process's resident size (Linux /proc; elsewhere the peak, from getrusage)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def set_growth_limit(percent: int | None) -> None:
    """Called in the worker (`flask worker`); None or 0: no limit."""
    _memory["growth"] = percent / 100 if percent else None


def rendered_one() -> None:
    """Count a PDF rendered in this process; the size after WARMUP_RENDERS is its warmed-up size."""
    _memory["renders"] += 1
    if _memory["renders"] == WARMUP_RENDERS:
        _memory["warm"] = rss_bytes()


def over_memory_budget() -> bool:
    warm, growth = _memory["warm"], _memory["growth"]
    return bool(warm and growth) and rss_bytes() > warm * (1 + growth)
