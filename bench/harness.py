"""Case registry, timing primitives and the interleaved runner.

Vocabulary:

* A *suite* is one table of the report ("proxy", "wsgi", later "asgi", ...).
* An *entry* is one (suite, subject, workload) cell, where *subject* is the
  framework or accessor being measured.  Its *factory* builds a `Prepared`
  case: all imports and app setup happen there, never inside the timed loop.
* A *batch timer* runs the measured operation ``n`` times and returns the
  elapsed wall-clock seconds.  Sync cases get one from `loop_timer` /
  `call_timer`; an async peer can supply its own (e.g. run ``n`` requests
  inside one event-loop turn) without the runner caring.
"""

from __future__ import annotations

import gc
import statistics
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

NOT_TIMED = "failed validation, not timed"

BatchTimer = Callable[[int], float]
Check = Callable[[], list[str]]


def _no_problems() -> list[str]:
    return []


@dataclass
class Prepared:
    """A case ready to be timed.

    ``check`` performs one un-timed operation and returns human-readable
    problems (empty list = correct).  The runner calls it before timing (a
    failing case is reported but not timed, so e.g. fast 500s cannot pass as
    fast) and again after timing (to catch state that breaks under load).
    """

    timer: BatchTimer
    check: Check = _no_problems


CaseFactory = Callable[[], Prepared]


@dataclass(frozen=True)
class Entry:
    suite: str
    subject: str
    workload: str
    factory: CaseFactory


@dataclass
class Result:
    entry: Entry
    samples: list[float] = field(default_factory=list)  # seconds per operation
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    number: int = 0  # operations per sample
    case: Prepared | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)


@dataclass(frozen=True)
class Config:
    repeats: int  # samples per case (interleaved rounds)
    sample_seconds: float  # target wall time of one sample


_REGISTRY: list[Entry] = []


def register(suite: str, subject: str, workload: str, factory: CaseFactory) -> None:
    """Add one (suite, subject, workload) cell; registration order = table order."""
    _REGISTRY.append(Entry(suite, subject, workload, factory))


def entries(suite: str) -> list[Entry]:
    return [e for e in _REGISTRY if e.suite == suite]


def suites() -> list[str]:
    return list(dict.fromkeys(e.suite for e in _REGISTRY))


# --- batch timers -----------------------------------------------------------


def loop_timer(stmt: str, **names: object) -> BatchTimer:
    """Time ``stmt`` in a timeit loop with ``names`` bound as fast locals.

    timeit disables the garbage collector while the loop runs.
    """
    setup = "\n".join(f"{name} = __bench_ns[{name!r}]" for name in names)
    timer = timeit.Timer(stmt, setup=setup or "pass", globals={"__bench_ns": names})
    return timer.timeit


def call_timer(fn: Callable[[], object]) -> BatchTimer:
    """Time calls of the zero-argument callable ``fn``."""
    return loop_timer("fn()", fn=fn)


# --- runner -----------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _prepare(entry: Entry) -> Result:
    result = Result(entry)
    try:
        result.case = entry.factory()
        result.problems.extend(result.case.check())
    except Exception as exc:  # a broken/missing framework must not stop the run
        result.error = _describe(exc)
    if result.problems and result.error is None:
        # Never time a case that answers wrongly: it could look fast.
        result.error = NOT_TIMED
    return result


def calibrate(timer: BatchTimer, sample_seconds: float) -> int:
    """Pick an operation count so that one sample takes ~``sample_seconds``."""
    number = 1
    while True:
        elapsed = timer(number)
        if elapsed >= sample_seconds / 5:
            return max(1, round(number * sample_seconds / elapsed))
        number *= 10


def _sample(result: Result) -> None:
    assert result.case is not None
    gc.collect()
    elapsed = result.case.timer(result.number)
    result.samples.append(elapsed / result.number)


def _guarded(result: Result, step: Callable[[Result], None]) -> None:
    if result.error is not None:
        return
    try:
        step(result)
    except Exception as exc:
        result.error = _describe(exc)


def _calibrate_step(result: Result, config: Config) -> None:
    assert result.case is not None
    result.number = calibrate(result.case.timer, config.sample_seconds)


def _recheck(result: Result) -> None:
    assert result.case is not None
    for problem in result.case.check():
        if problem not in result.problems:
            result.problems.append(f"after timing: {problem}")


def round_order(results: list[Result]) -> list[Result]:
    """Workload-major order of one round: every subject of a workload in a row.

    Cells that are compared with each other (same workload, other framework or
    interface) are then sampled within about a second of each other.
    """
    workloads = list(dict.fromkeys(r.entry.workload for r in results))
    rank = {w: i for i, w in enumerate(workloads)}
    return sorted(results, key=lambda r: rank[r.entry.workload])  # stable


def run_suites(names: Sequence[str], config: Config) -> dict[str, list[Result]]:
    """Prepare, calibrate, then sample every case of ``names`` round-robin.

    Interleaving the repeats (A B C, A B C, ...) spreads slow drifts of the
    machine (frequency scaling, noisy neighbours) evenly over all cases, and
    makes sample ``i`` of every case part of the same round ``i``, which is
    what the paired ratios divide, also across the suites run together.
    """
    by_suite = {name: [_prepare(entry) for entry in entries(name)] for name in names}
    everything = [r for results in by_suite.values() for r in results]
    for result in everything:
        _guarded(result, lambda r: _calibrate_step(r, config))
    ordered = round_order(everything)
    for _ in range(config.repeats):
        for result in ordered:
            _guarded(result, _sample)
    for result in everything:
        _guarded(result, _recheck)
        result.case = None  # free the app (and its event loop's work)
    return by_suite


def run_suite(suite: str, config: Config) -> list[Result]:
    """`run_suites` for one suite."""
    return run_suites([suite], config)[suite]
