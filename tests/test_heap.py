"""``release_freed_memory`` gives the pages of freed heap chunks back to the OS (glibc's malloc_trim);
``collector_paused`` switches the cyclic collector off for a block and back as it was."""

from __future__ import annotations

import sys

import pytest

from framework.heap import _libc, release_freed_memory


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux") or _libc() is None, reason="glibc only")
def test_freed_chunks_inside_the_heap_are_returned() -> None:
    # 1 KiB objects come from malloc's heap (not pymalloc, not mmap); every 64th stays alive, so
    # free() alone cannot shrink the heap from its top and the RSS stays up until the trim
    blocks = [bytes(1024) + i.to_bytes(4, "little") for i in range(60_000)]
    keep = blocks[::64]
    del blocks
    before = _rss_mib()
    assert release_freed_memory() is True
    after = _rss_mib()
    assert before - after > 20, (before, after)  # ~58 MiB were freed
    assert len(keep) == 938



def test_collector_paused_restores_the_previous_state_even_on_error() -> None:
    import gc

    from framework.heap import collector_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()
