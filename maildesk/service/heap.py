"""The C heap of the long-running daemon (glibc's malloc), kept from creeping upward.

glibc serves blocks above its mmap threshold with mmap and unmaps them when freed; but
each time such a block is freed it raises the threshold to that block's size (up to
32 MiB). After a few large messages (raw mail, attachments, their base64 text) every
later large buffer is carved from the heap instead, between long-lived small blocks, and
the holes it leaves are rarely reused whole nor returned. The daemon's resident memory
grew about 3 MiB per 10,000 tickets that way while the Python objects it held (traced
with tracemalloc) and SQLite's own memory stayed flat. A fixed threshold ends the
adjustment; blocks of 128 KiB and more then always go back to the system when freed.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value


def fix_mmap_threshold() -> bool:
    """Set glibc's mmap threshold for good; False where there is no glibc to ask."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))  # musl's stub answers 0
    log.debug("malloc mmap threshold %s", "fixed at 128 KiB" if done else "left as it is")
    return done
