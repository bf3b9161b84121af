"""Opt-in glibc malloc tuning for large loads (process-wide, so never done unasked)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["BOUND_HEAP_MIN_BYTES", "ENV_VAR", "bound_heap", "release_memory", "tune_malloc", "tune_requested"]

#: Set to ``1`` (or ``true``/``yes``/``on``) to tune malloc before every load.
ENV_VAR = "XCOMLAB_TUNE_MALLOC"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})

#: glibc ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: The ceiling of glibc's dynamic mmap threshold on 64-bit systems,
#: DEFAULT_MMAP_THRESHOLD_MAX = 4 MiB * sizeof(long) (mallopt(3), glibc 2.36; read
#: 2026-12-06).
_MMAP_THRESHOLD = 32 * 2**20
#: Free heap top kept for reuse; chosen by measurement (benchmarks/CHANGELOG.md#2026-12-06-ingest-fourth-round): a 5M-row load peaks at 840–880 MiB with it.
_TRIM_THRESHOLD = 128 * 2**20


def tune_requested(requested: bool | None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a load tunes malloc: ``requested`` when given, else :data:`ENV_VAR`.

    Raises :class:`ValueError` when the variable holds something other than a yes/no word.
    """
    if requested is not None:
        return requested
    text = (os.environ if environ is None else environ).get(ENV_VAR, "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    msg = f"{ENV_VAR}={text!r}; expected 1 or 0 (true/false, yes/no, on/off)"
    raise ValueError(msg)


@functools.cache
def tune_malloc() -> bool:
    """Let glibc's malloc reuse freed memory instead of handing it back to the OS.

    A load allocates and frees batch-sized arrays (hundreds of KiB to a few MiB) all
    along. By default glibc serves those from fresh ``mmap`` pages and trims freed heap
    tops, so every batch pays first-touch page faults again; on virtual machines that
    can cost more than the arithmetic (benchmarks/CHANGELOG.md#2026-12-06-ingest-fourth-round;
    off by default since benchmarks/CHANGELOG.md#2026-12-07-loader-split). This sets the mmap
    threshold to 32 MiB (where glibc's own dynamic threshold tops out) and keeps up to
    128 MiB of free heap top per arena for reuse.

    The change is process-wide and lasts for the life of the process (glibc has no way
    back to its dynamic threshold), which is why loads only make it when asked:
    ``load_export(..., tune_malloc=True)`` or ``XCOMLAB_TUNE_MALLOC=1``. Runs once per
    process; returns True when the settings were applied, False where the C library is
    not glibc.
    """
    mallopt = _mallopt()
    if mallopt is None:
        return False
    ok_mmap = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    ok_trim = mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    return bool(ok_mmap and ok_trim)


#: A fixed mmap threshold: blocks from this size on are mapped and unmapped, never kept.
_BOUND_MMAP_THRESHOLD = 128 * 2**10
#: Files from this size on are summarised by the CLI with :func:`bound_heap`.
BOUND_HEAP_MIN_BYTES = 4 * 2**30


@functools.cache
def bound_heap() -> bool:
    """The opposite trade to :func:`tune_malloc`, for streams of hours: give every freed
    block of 128 KiB or more back to the OS at once.

    glibc raises its mmap threshold each time a mapped block is freed (up to 32 MiB), so a
    long stream's batch-sized arrays end up on the heap, interleaved with the summary's
    growing tables, and the heap only grows: on a 100M-row mixed CSV, RSS 1,207 MiB after
    320 batches with tables of 258 MiB; with a fixed 128 KiB threshold 1,011 MiB. It costs
    page faults (a 5M-row mixed profile: 76 → 85 s), so the CLI does it only for files over
    :data:`BOUND_HEAP_MIN_BYTES` (benchmarks/README.md#scale). Process-wide and for the
    life of the process; returns True when applied, False where the C library is not glibc.
    """
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(_M_MMAP_THRESHOLD, _BOUND_MMAP_THRESHOLD))


def _mallopt() -> Any:
    """glibc's ``mallopt``, or None where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return None


def release_memory() -> None:
    """Hand freed heap back to the OS: Arrow's pool and, on glibc, the malloc arenas the
    reader threads grew (``malloc_trim``). Without it the work that follows a stream or a
    summary file's read starts from their high-water mark (a 1M-row many_dags CSV: 581 MiB
    RSS after the summary, 346 MiB after this; a 100M-row summary read back: 3.0 GB, 1.6 GB
    after this)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
