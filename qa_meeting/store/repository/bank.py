"""Queries about the image bank: teaching cases exported here or imported from other sites."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from qa_meeting.store.models import BankCase

__all__ = ["add_bank_case", "get_bank_case", "get_bank_case_by_package_id", "list_bank_cases"]


def add_bank_case(*, session: Session, case: BankCase) -> BankCase:
    session.add(case)
    session.flush()
    return case


def get_bank_case(*, session: Session, case_id: int) -> BankCase | None:
    return session.get(BankCase, case_id)


def get_bank_case_by_package_id(*, session: Session, package_id: str) -> BankCase | None:
    return session.exec(select(BankCase).where(BankCase.package_id == package_id)).first()


def list_bank_cases(
    *, session: Session, protocol_id: str | None = None, level: str | None = None
) -> Sequence[BankCase]:
    """Newest first, optionally for one protocol and one level."""
    query = select(BankCase).order_by(col(BankCase.added_at).desc(), col(BankCase.id).desc())
    if protocol_id is not None:
        query = query.where(BankCase.protocol_id == protocol_id)
    if level is not None:
        query = query.where(BankCase.level == level)
    return session.exec(query).all()
