"""One error family for everything the core refuses to do.

Every error carries a message (what went wrong, in words a clinician understands) and a remedy
(what to do about it). Pages show them in one place (``ui/feedback.py``); the CLI prints them.
Anything that is not a ``QaMeetingError`` is a bug and is left to propagate.
"""

from __future__ import annotations


class QaMeetingError(Exception):
    """Base class: a refusal with a message and a remedy."""

    default_remedy = "Check the input and try again."

    def __init__(self, message: str, remedy: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy or self.default_remedy

    def __str__(self) -> str:
        return f"{self.message} {self.remedy}"


class ConfigurationError(QaMeetingError):
    """A setting or configuration file is invalid."""

    default_remedy = "Correct the setting or file named in the message and restart the app."


class ProtocolError(ConfigurationError):
    """A protocol file is malformed."""

    default_remedy = (
        "Fix the protocol file named in the message; see the README on adding a protocol."
    )


class ValidationError(QaMeetingError):
    """A form or request holds a value the app cannot accept."""

    default_remedy = "Correct the field named in the message and submit again."


class NotFoundError(QaMeetingError):
    """The thing asked for does not exist (or the user may not know it exists)."""

    default_remedy = "Go back to the list and pick an existing item."


class PermissionDeniedError(QaMeetingError):
    """The signed-in user's role does not allow this action."""

    default_remedy = "Ask a chair or an administrator if you need this access."


class AuthenticationError(QaMeetingError):
    """Sign-in failed."""

    default_remedy = "Check the user name and password, or ask an administrator to reset them."


class RejectedFileError(QaMeetingError):
    """A file offered for ingest cannot be stored."""

    default_remedy = "Export the scan again from the ultrasound machine or PACS as DICOM and retry."


class ConflictError(QaMeetingError):
    """The request clashes with something already stored, which is kept as it is."""

    default_remedy = "Nothing was changed. Check which version is correct before retrying."
