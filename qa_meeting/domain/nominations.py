"""Why a reviewed scan goes to the QA meeting queue (PRODUCT.md section 5).

Order of precedence: every discordant-major scan, then minor, technically limited, flagged
interesting, and good spots. A concordant, unflagged scan is not queued.
"""

from __future__ import annotations

from enum import StrEnum

from qa_meeting.domain.discordance import StudyCategory


class NominationReason(StrEnum):
    DISCORDANT_MAJOR = "discordant_major"
    DISCORDANT_MINOR = "discordant_minor"
    TECHNICALLY_LIMITED = "technically_limited"
    INTERESTING = "interesting"
    GOOD_SPOT = "good_spot"
    CHAIR_ADDED = "chair_added"


PRIORITY: tuple[NominationReason, ...] = tuple(NominationReason)

_FROM_CATEGORY = {
    StudyCategory.DISCORDANT_MAJOR: NominationReason.DISCORDANT_MAJOR,
    StudyCategory.DISCORDANT_MINOR: NominationReason.DISCORDANT_MINOR,
    StudyCategory.TECHNICALLY_LIMITED: NominationReason.TECHNICALLY_LIMITED,
}


def nomination_reason(
    category: StudyCategory | None, *, interesting: bool, good_spot: bool
) -> NominationReason | None:
    """The strongest reason to queue a scan, or None when it need not be discussed."""
    if category is not None and category in _FROM_CATEGORY:
        return _FROM_CATEGORY[category]
    if interesting:
        return NominationReason.INTERESTING
    if good_spot:
        return NominationReason.GOOD_SPOT
    return None
