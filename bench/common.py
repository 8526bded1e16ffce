"""Small helpers shared by the benchmarks: timing and a result row."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    name: str
    ours: str
    baseline: str
    ratio: float
    goal: str

    def row(self) -> str:
        return f"| {self.name} | {self.ours} | {self.baseline} | {self.ratio:.2f}x | {self.goal} |"


HEADER = "| benchmark | ours | baseline (same run) | ratio | goal |\n|---|---|---|---|---|"


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """The fastest of several runs, in seconds (the least disturbed by the machine)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best
