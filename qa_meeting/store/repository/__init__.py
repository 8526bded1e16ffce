"""Every query the app makes, in one place. Functions take ``session`` keyword-first and return
table models. Callers own the transaction (``store.db.transaction``); nothing here commits.

Split by subject into submodules; import them from here: ``from qa_meeting.store import
repository`` then ``repository.get_study(...)``.
"""

from qa_meeting.store.repository.bank import *  # noqa: F403
from qa_meeting.store.repository.digest import *  # noqa: F403
from qa_meeting.store.repository.exports import *  # noqa: F403
from qa_meeting.store.repository.feedback import *  # noqa: F403
from qa_meeting.store.repository.loops import *  # noqa: F403
from qa_meeting.store.repository.meetings import *  # noqa: F403
from qa_meeting.store.repository.people import *  # noqa: F403
from qa_meeting.store.repository.scans import *  # noqa: F403
from qa_meeting.store.repository.ward_round import *  # noqa: F403
