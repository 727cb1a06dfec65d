"""Keep freed memory in the process: glibc's malloc set up for training's large, short-lived CPU tensors.

A training step allocates and frees the same large buffers every step: stage 1 of toy64 evaluates the field
at ~0.8 M points (8 renders x 24^2 rays x 24 samples x the 7-point stencil), hundreds of MB of activations and
gradients. By default glibc serves every allocation above its mmap threshold (128 KiB, rising adaptively to at
most 32 MiB) with fresh ``mmap`` pages that ``free`` returns to the kernel, and gives back the top of the heap
whenever more than 128 KiB lie free there. The next step then faults every page in again, each zeroed by the
kernel: a toy64 run took 183 M minor page faults and spent a quarter of its CPU time in the kernel
(``bench/RESULTS.md``).

``retain_freed_memory`` raises the mmap threshold to 1 GiB (buffers stay in the heap) and the trim threshold
to 2 GiB with a 512 MiB top pad (the heap is not handed back between steps), so freed pages are reused
instead of re-faulted. The process's resident set grows by what it keeps (``make train``'s peak: 1.9 GB before,
2.7-3.3 GB after; its steps 15-35 % faster).

Why hand-written: the same settings as the ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` /
``MALLOC_TOP_PAD_`` environment variables, which only act at process start, while a user runs
``python -m atom.train`` directly; jemalloc or tcmalloc would need ``LD_PRELOAD`` and a system package. So
``mallopt`` is called through ``ctypes`` when training starts. Other C libraries (macOS, musl) are left as
they are, and that is logged.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

logger = logging.getLogger(__name__)

# mallopt's parameter numbers (glibc's <malloc.h>)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 2**30
TRIM_THRESHOLD_BYTES = 2**31 - 1  # mallopt takes a C int
TOP_PAD_BYTES = 2**29


def retain_freed_memory() -> bool:
    """Tune glibc's malloc so freed large buffers are kept for reuse (see the module docstring).

    Returns True when every setting was accepted, False (logged) when the C library is not glibc or refused one.
    Process-wide and idempotent.
    """
    libc_name, _ = platform.libc_ver()
    if libc_name != "glibc":
        logger.info("allocator: C library is %r, not glibc; malloc left at its defaults", libc_name or "unknown")
        return False
    mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settings = {"mmap threshold": (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
                "trim threshold": (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
                "top pad": (M_TOP_PAD, TOP_PAD_BYTES)}
    refused = [name for name, (param, value) in settings.items() if mallopt(param, value) != 1]
    if refused:
        logger.warning("allocator: glibc refused mallopt for %s; freed memory may be returned and re-faulted",
                       ", ".join(refused))
        return False
    logger.info("allocator: glibc keeps freed memory (mmap threshold %d MiB, trim threshold %d MiB, top pad %d MiB)",
                MMAP_THRESHOLD_BYTES >> 20, TRIM_THRESHOLD_BYTES >> 20, TOP_PAD_BYTES >> 20)
    return True
