"""Samples, their statistics, and the interleaving that makes a route and its floor comparable.

A route and its floor are timed in alternation, one sample each per round, the order
flipped every round: drift in the machine's load (other processes, CPU frequency) then
reaches both alike, and the ratio of their medians holds on a shared machine.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Samples:
    """Wall-clock durations, in seconds, and the CPU time the measuring thread spent in each."""

    wall: list[float]
    cpu: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def p95(self) -> float:
        return percentile(self.wall, 95)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def percentile(values: list[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest value with `percent`% of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


Timed = Callable[[int], object]  # one sample; a float it returns is its CPU time, measured by itself


def _cpu(returned: object, thread_cpu: float) -> float:
    # Work done in a child process is not this thread's: such a function reports its own CPU time.
    return returned if isinstance(returned, float) else thread_cpu


def paired(subject: Timed, floor: Timed, rounds: int, warmup: int = 3) -> tuple[Samples, Samples]:
    """Time `subject(i)` and `floor(i)` in alternation for `rounds` rounds, after `warmup` untimed ones."""
    for index in range(warmup):
        floor(index)
        subject(index)
    subject_wall: list[float] = []
    subject_cpu: list[float] = []
    floor_wall: list[float] = []
    floor_cpu: list[float] = []
    for index in range(warmup, warmup + rounds):
        order = ((subject, subject_wall, subject_cpu), (floor, floor_wall, floor_cpu))
        for function, wall, cpu in order if index % 2 else reversed(order):
            cpu_started = time.thread_time()
            started = time.perf_counter()
            returned = function(index)
            wall.append(time.perf_counter() - started)
            cpu.append(_cpu(returned, time.thread_time() - cpu_started))
    return Samples(subject_wall, subject_cpu), Samples(floor_wall, floor_cpu)


def series(function: Timed, count: int) -> Samples:
    """Time `function(i)` for i in range(`count`), with no warm-up: for fresh processes."""
    wall: list[float] = []
    cpu: list[float] = []
    for index in range(count):
        cpu_started = time.thread_time()
        started = time.perf_counter()
        returned = function(index)
        wall.append(time.perf_counter() - started)
        cpu.append(_cpu(returned, time.thread_time() - cpu_started))
    return Samples(wall, cpu)


def repeated(function: Callable[[], object], count: int, warmup: int = 100) -> Samples:
    """Time `count` calls of `function`, each alone, after `warmup` untimed ones.

    Only the wall clock is read, as closely around the call as it can be: for a call of a
    few microseconds that only computes, its CPU time is its wall time.
    """
    for _ in range(warmup):
        function()
    wall: list[float] = []
    clock = time.perf_counter
    for _ in range(count):
        started = clock()
        function()
        wall.append(clock() - started)
    return Samples(wall, wall)


def duration(seconds: float) -> str:
    """A duration in the unit that reads best: µs, ms or s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def markdown_table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """A Markdown table, its columns padded so that it also reads as plain text."""
    lines = [list(header), *[list(row) for row in rows]]
    widths = [max(len(line[column]) for line in lines) for column in range(len(lines[0]))]

    def render(cells: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([render(lines[0]), rule, *[render(line) for line in lines[1:]]])
