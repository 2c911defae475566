"""Hand the heap's freed pages back to the operating system between the stages of a run.

Why: loading a tokenizer parses its ``tokenizer.json`` into Python objects (transformers) and
into Rust structures (tokenizers), and preparing the data renders and encodes every sample.
Most of that is freed a moment later, but glibc's malloc keeps freed chunks inside its arenas
(the main heap and one per thread that allocated) instead of returning them, so the process's
resident memory stays at its high-water mark and every later stage (weights, optimizer,
activations) stacks on top of it. On a tiny model that is more than a third of the run's peak.
``malloc_trim(0)`` returns every whole free page of every arena; it changes no value the run
computes and costs a few milliseconds. Elsewhere (musl, macOS, Windows) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from typing import Any


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    """glibc, or None where there is none (its malloc_trim is a GNU extension)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


def release_freed_memory() -> bool:
    """Return the heap's free pages to the OS; whether anything was returned (False without glibc)."""
    import gc

    gc.collect()  # cycles freed first, so their pages are free to return
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
