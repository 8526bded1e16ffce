"""Local accounts, sign-in and OIDC account matching.

Passwords are hashed with Argon2id (argon2-cffi, the reference implementation's maintained
binding). Every user gets a stable random pseudonym used wherever operators are shown anonymised.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from qa_meeting.errors import AuthenticationError, PermissionDeniedError, ValidationError
from qa_meeting.services import audit
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import Role, User

_HASHER = PasswordHasher()
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
_PSEUDONYM_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class UserSummary:
    id: int
    username: str
    display_name: str
    role: str
    pseudonym: str
    active: bool

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "pseudonym": self.pseudonym,
            "active": self.active,
        }


def actor_for(user: User) -> Actor:
    assert user.id is not None
    return Actor(user_id=user.id, username=user.username, role=user.role, pseudonym=user.pseudonym)


def _summary(user: User) -> UserSummary:
    assert user.id is not None
    return UserSummary(
        user.id, user.username, user.display_name, user.role, user.pseudonym, user.active
    )


def _new_pseudonym(taken: set[str]) -> str:
    while True:
        code = "".join(secrets.choice(_PSEUDONYM_ALPHABET) for _ in range(4))
        candidate = f"OP-{code}"
        if candidate not in taken:
            return candidate


def validate_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValidationError(
            f"Role {role!r} is not known.", f"Choose one of: {allowed}."
        ) from None


def create_user(
    ctx: AppContext,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str | None,
    email: str | None = None,
    actor: Actor | None = None,
) -> UserSummary:
    """Add a local account. ``actor`` None means the command line (trusted operator)."""
    if actor is not None and actor.role != Role.ADMIN:
        raise PermissionDeniedError("Only an administrator can add accounts.")
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise ValidationError(
            f"User name {username!r} is not allowed.",
            "Use 2-80 lower-case letters, digits, dots, dashes or underscores.",
        )
    checked_role = validate_role(role)
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            "The password is too short.", f"Use at least {MIN_PASSWORD_LENGTH} characters."
        )
    if not display_name.strip():
        raise ValidationError("The display name is empty.", "Give the person's name.")
    with transaction(ctx.engine) as session:
        if repository.get_user_by_username(session=session, username=username):
            raise ValidationError(f"User name {username!r} is taken.", "Choose another user name.")
        user = repository.add_user(
            session=session,
            user=User(
                username=username,
                display_name=display_name.strip(),
                email=email,
                role=checked_role.value,
                password_hash=_HASHER.hash(password) if password else None,
                pseudonym=_new_pseudonym(repository.pseudonyms_in_use(session=session)),
            ),
        )
        audit.record(session, actor, "user.add", target=username, detail=checked_role.value)
        return _summary(user)


def list_users(ctx: AppContext) -> list[UserSummary]:
    with transaction(ctx.engine) as session:
        return [_summary(u) for u in repository.list_users(session=session)]


def authenticate(ctx: AppContext, username: str, password: str) -> Actor:
    """Check a local password. The same message for every failure, to not reveal accounts."""
    name = username.strip().lower()
    with transaction(ctx.engine) as session:
        user = repository.get_user_by_username(session=session, username=name)
        actor = actor_for(user) if user is not None else None
        verified = False
        if user is not None and user.active and user.password_hash:
            try:
                verified = _HASHER.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                verified = False
        if verified and user is not None and _HASHER.check_needs_rehash(user.password_hash or ""):
            user.password_hash = _HASHER.hash(password)
            session.add(user)
        audit.record(
            session, actor, "login", target=name[:80], outcome="ok" if verified else "refused"
        )
    if not verified or actor is None:
        raise AuthenticationError("The user name or password is not right.")
    return actor


def actor_for_oidc(ctx: AppContext, email: str | None) -> Actor:
    """Match an OIDC identity to an active account by e-mail; unknown people get no access."""
    if not email:
        raise AuthenticationError(
            "Your identity provider did not share an e-mail address.",
            "Ask an administrator to check the OIDC scopes (openid email profile).",
        )
    with transaction(ctx.engine) as session:
        user = repository.get_user_by_email(session=session, email=email)
        actor = actor_for(user) if user is not None and user.active else None
        audit.record(session, actor, "login.oidc", outcome="ok" if actor else "refused")
    if actor is None:
        raise AuthenticationError(
            "You have no account in QA Meeting yet.",
            "Ask an administrator to add an account with your hospital e-mail address.",
        )
    return actor


def users_by_role(ctx: AppContext, role: str) -> Sequence[UserSummary]:
    with transaction(ctx.engine) as session:
        return [_summary(u) for u in repository.list_users(session=session, role=role)]
