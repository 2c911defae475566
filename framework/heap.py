"""Hand the heap's freed pages back to the operating system between the stages of a run, and keep
Python's collector from walking a stage's objects for nothing.

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

import contextlib
import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Iterator
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


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a block that builds many long-lived objects.

    Why: preparing 100k samples creates a few million dicts, strings and tuples that all live
    until the block ends; the collector, triggered by every 700 new objects, walks them again
    and again (0.6-0.9 s of a 7 s preparation, bench/preprocess.py) and frees nothing, since the
    data holds no cycles. Workers forked inside the block inherit the paused collector, so they
    never write to the headers of the objects they share copy-on-write (which would copy every
    page holding one). The collector's previous state comes back afterwards, and
    ``release_freed_memory`` collects what cycles there were once the stage is done."""
    import gc

    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
