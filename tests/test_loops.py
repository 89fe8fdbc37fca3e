"""kettle.loops: one private event loop per thread, closed with its thread's locals."""

from __future__ import annotations

import gc
import sys
import warnings
from typing import Any

from kettle.loops import ThreadLoops


async def _answer() -> int:
    return 42


def _loop_collected_in_a_cycle() -> tuple[Any, list[Any], list[Any]]:
    """Run a coroutine on a fresh ThreadLoops, then drop it inside a reference cycle
    (as an app's locals are dropped) and collect it; return its loop, and the
    unraisable errors and ResourceWarnings seen meanwhile."""
    loops = ThreadLoops()
    loops.run(_answer())
    assert loops.holder is not None
    loop = loops.holder.loop
    cycle: list[Any] = [loops]
    cycle.append(cycle)
    del loops
    unraisable: list[Any] = []
    hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del cycle
            gc.collect()
    finally:
        sys.unraisablehook = hook
    warned = [w for w in caught if issubclass(w.category, ResourceWarning)]
    return loop, unraisable, warned


def test_run_uses_one_loop_per_thread_again_and_again() -> None:
    loops = ThreadLoops()
    assert loops.run(_answer()) == 42
    assert loops.holder is not None
    loop = loops.holder.loop
    assert loops.run(_answer()) == 42
    assert loops.holder.loop is loop
    assert loops.owns(loop)
    loops.close()
    assert loop.is_closed()
    assert loops.holder is None


def test_loop_dropped_with_a_reference_cycle_is_closed_cleanly() -> None:
    # The collector finalizes a cycle's objects in no fixed order; the loop must not
    # be among them (its self-pipe sockets would be closed, with a warning, before
    # the loop), so the holder's closer keeps it out of the garbage until it runs.
    for _ in range(20):
        loop, unraisable, resource_warnings = _loop_collected_in_a_cycle()
        assert loop.is_closed()
        assert unraisable == []
        assert resource_warnings == []
