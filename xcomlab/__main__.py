"""``xcomlab`` and ``python -m xcomlab``: the command line (:mod:`xcomlab.cli`) run as a program.

A program may choose process-wide settings a library import may not (see
:mod:`xcomlab.ingest.allocator`). One is made here, before anything loads Arrow, because
Arrow's allocator reads its options from the environment when its library loads:

``MIMALLOC_PURGE_DELAY=0``
    pyarrow's default memory pool is mimalloc (pyarrow 26.0.1), which hands freed pages
    back to the OS only after a delay (1,000 ms in that build, read 2026-12-08 as
    ``MIMALLOC_VERBOSE=1`` prints it) and only when the thread that freed them allocates
    again; a stream's reader threads then keep pages they no longer use. With no delay
    they go back at once. ``xcomlab profile`` of a 5M-row mixed CSV: peak RSS 919–1,003
    MiB without, 831–852 MiB with (benchmarks/README.md#session-2026-12-08).
    A value the environment already sets is kept.
"""

from __future__ import annotations

import os
import sys
from typing import Final

__all__ = ["PROGRAM_ENV", "main"]

#: Environment the command sets for itself unless already set (see the module docstring).
PROGRAM_ENV: Final = {"MIMALLOC_PURGE_DELAY": "0"}


def main() -> int:
    """Set :data:`PROGRAM_ENV`, then run :func:`xcomlab.cli.main` on ``sys.argv``."""
    for name, value in PROGRAM_ENV.items():
        os.environ.setdefault(name, value)
    from xcomlab.cli import main as run

    return run()


if __name__ == "__main__":
    sys.exit(main())
