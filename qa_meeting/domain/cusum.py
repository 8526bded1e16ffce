"""A Bernoulli CUSUM learning curve for one trainee (as used for procedural learning curves).

Each reviewed scan, in scan-date order (then study id), is a success or a failure. A failure is a
discordant read, major or minor; concordant, technically limited and incomplete-documentation
scans count as successes here (technical limits and documentation gaps have their own chart).

With an acceptable failure rate ``p0`` and an unacceptable one ``p1`` (0 < p0 < p1 < 1)::

    P = ln(p1 / p0)              Q = ln((1 - p0) / (1 - p1))
    s = Q / (P + Q)              a success adds -s, a failure adds 1 - s
    h = ln((1 - beta) / alpha) / (P + Q)

``alpha`` is the chance of signalling when the trainee's true rate is ``p0`` (a false alarm) and
``beta`` the chance of missing a true rate of ``p1``. Two curves are reported:

- the *cumulative* curve: the running sum from 0, which falls while the trainee does better
  than the acceptable rate and rises while they do worse;
- the *reset* chart (Page's CUSUM): ``max(0, previous + step)``, which *signals* the first time
  it reaches ``h``: evidence that the discordance rate is nearer ``p1`` than ``p0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import NamedTuple

from qa_meeting.errors import ValidationError


@dataclass(frozen=True)
class CusumParams:
    """Acceptable and unacceptable failure rates, and the error rates that set ``h``."""

    acceptable_rate: float = 0.10
    unacceptable_rate: float = 0.20
    alpha: float = 0.10
    beta: float = 0.10

    def __post_init__(self) -> None:
        p0, p1 = self.acceptable_rate, self.unacceptable_rate
        if not 0 < p0 < p1 < 1:
            raise ValidationError(
                f"The CUSUM rates must satisfy 0 < acceptable < unacceptable < 1; got "
                f"acceptable {p0} and unacceptable {p1}.",
                "Set QA_MEETING_CUSUM_ACCEPTABLE_RATE below QA_MEETING_CUSUM_UNACCEPTABLE_RATE, "
                "both between 0 and 1 (e.g. 0.10 and 0.20).",
            )
        for name, value in (("alpha", self.alpha), ("beta", self.beta)):
            if not 0 < value < 0.5:
                raise ValidationError(
                    f"The CUSUM {name} must be between 0 and 0.5, not {value}.",
                    f"Set QA_MEETING_CUSUM_{name.upper()} to a small probability such as 0.10.",
                )

    @property
    def _denominator(self) -> float:
        p0, p1 = self.acceptable_rate, self.unacceptable_rate
        return math.log(p1 / p0) + math.log((1 - p0) / (1 - p1))

    @property
    def s(self) -> float:
        """What a success subtracts (a failure adds ``1 - s``)."""
        p0, p1 = self.acceptable_rate, self.unacceptable_rate
        return math.log((1 - p0) / (1 - p1)) / self._denominator

    @property
    def h(self) -> float:
        """The decision limit of the reset chart."""
        return math.log((1 - self.beta) / self.alpha) / self._denominator


class Outcome(NamedTuple):  # one per reviewed scan: a named tuple, cheap to build
    """One reviewed scan of the trainee: when, which, and whether it was a failure."""

    scanned_on: date
    study_id: int
    failure: bool


class CusumPoint(NamedTuple):  # one per reviewed scan, likewise
    number: int  # 1 for the trainee's first reviewed scan
    study_id: int
    scanned_on: date
    failure: bool
    cumulative: float
    reset: float


@dataclass(frozen=True)
class CusumCurve:
    points: tuple[CusumPoint, ...]
    s: float
    h: float
    signal_at: int | None  # the point number where the reset chart first reached h

    @property
    def signal(self) -> bool:
        return self.signal_at is not None


def cusum_curve(outcomes: Sequence[Outcome], params: CusumParams) -> CusumCurve:
    """The cumulative and reset curves over ``outcomes`` sorted by scan date, then study id."""
    s, h = params.s, params.h
    failed, succeeded = 1 - s, -s
    cumulative = reset = 0.0
    signal_at: int | None = None
    points: list[CusumPoint] = []
    append = points.append
    ordered = sorted(outcomes, key=itemgetter(0, 1))  # (scanned_on, study_id)
    for number, (scanned_on, study_id, failure) in enumerate(ordered, start=1):
        step = failed if failure else succeeded
        cumulative += step
        reset = max(0.0, reset + step)
        if signal_at is None and reset >= h:
            signal_at = number
        append(CusumPoint(number, study_id, scanned_on, failure, cumulative, reset))
    return CusumCurve(points=tuple(points), s=s, h=h, signal_at=signal_at)
