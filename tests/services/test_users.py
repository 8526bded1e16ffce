"""Local accounts: hashing, sign-in, validation, OIDC matching, audit."""

from __future__ import annotations

import pytest

from qa_meeting.errors import AuthenticationError, PermissionDeniedError, ValidationError
from qa_meeting.services import users
from qa_meeting.services.context import AppContext
from qa_meeting.store.db import transaction
from qa_meeting.store.repository import get_user_by_username, list_audit_events
from tests.conftest import add_actor


def test_password_is_hashed_and_sign_in_works(ctx: AppContext) -> None:
    users.create_user(
        ctx, username="Ana", display_name="Dr Ana", role="trainee", password="s3cret-pass"
    )
    with transaction(ctx.engine) as session:
        row = get_user_by_username(session=session, username="ana")
        assert row is not None and row.password_hash is not None
        assert "s3cret-pass" not in row.password_hash
        assert row.password_hash.startswith("$argon2id$")
    actor = users.authenticate(ctx, "ana", "s3cret-pass")
    assert actor.username == "ana" and actor.role == "trainee"
    assert actor.pseudonym.startswith("OP-")


@pytest.mark.parametrize(
    ("username", "password"), [("ana", "wrong-password"), ("nobody", "s3cret-pass")]
)
def test_wrong_password_or_unknown_user_gives_the_same_message(
    ctx: AppContext, username: str, password: str
) -> None:
    users.create_user(
        ctx, username="ana", display_name="Dr Ana", role="trainee", password="s3cret-pass"
    )
    with pytest.raises(AuthenticationError, match="user name or password is not right"):
        users.authenticate(ctx, username, password)
    with transaction(ctx.engine) as session:
        refused = [e for e in list_audit_events(session=session) if e.outcome == "refused"]
    assert refused and all("s3cret" not in e.detail for e in refused)


@pytest.mark.parametrize(
    ("username", "role", "password", "field"),
    [
        ("a b", "trainee", "long-enough", "User name"),
        ("ok", "surgeon", "long-enough", "Role"),
        ("ok", "trainee", "short", "password"),
    ],
)
def test_invalid_accounts_are_refused_with_the_field(
    ctx: AppContext, username: str, role: str, password: str, field: str
) -> None:
    with pytest.raises(ValidationError, match=field):
        users.create_user(ctx, username=username, display_name="X", role=role, password=password)


def test_duplicate_user_name_is_refused_and_pseudonyms_are_unique(ctx: AppContext) -> None:
    first = users.create_user(ctx, username="a1", display_name="A", role="expert", password=None)
    second = users.create_user(ctx, username="a2", display_name="B", role="expert", password=None)
    assert first.pseudonym != second.pseudonym
    with pytest.raises(ValidationError, match="taken"):
        users.create_user(ctx, username="a1", display_name="C", role="expert", password=None)


def test_only_an_admin_adds_accounts_from_the_app(ctx: AppContext) -> None:
    chair = add_actor(ctx, "chair1", "chair")
    with pytest.raises(PermissionDeniedError):
        users.create_user(
            ctx, username="x1", display_name="X", role="admin", password=None, actor=chair
        )


def test_oidc_identity_matches_an_account_by_email(ctx: AppContext) -> None:
    users.create_user(
        ctx,
        username="cons",
        display_name="Dr Cons",
        role="expert",
        password=None,
        email="Cons@Hospital.nhs.uk",
    )
    assert users.actor_for_oidc(ctx, "cons@hospital.nhs.uk").username == "cons"
    with pytest.raises(AuthenticationError, match="no account"):
        users.actor_for_oidc(ctx, "stranger@example.org")
    with pytest.raises(AuthenticationError, match="e-mail"):
        users.actor_for_oidc(ctx, None)
    with pytest.raises(AuthenticationError):
        users.authenticate(ctx, "cons", "anything-at-all")  # no local password set
