"""Linking directory entries that are the same official (e.g. one person in Bắc Giang's and Bắc Ninh's
directories after the merger): one official, one `sub`, logins through either entry."""

from __future__ import annotations

from sqlalchemy import BindParameter, ScalarSelect, select
from sqlalchemy.orm import Session

from app.identity.models import Official, OfficialLink
from app.identity.service import IdentityError, emit, find_official
from app.store.access import end_access


def parse_ref(ref: str) -> tuple[str, str]:
    source, sep, username = ref.partition(":")
    if not sep or not source or not username:
        raise IdentityError(f"{ref!r}: write SOURCE:USERNAME, e.g. bacgiang:hieund")
    return source, username


def link(session: Session, primary_ref: str, secondary_ref: str) -> tuple[Official, Official]:
    """The secondary entry becomes another way in to the primary official; its own record is retired."""
    (p_source, p_name), (s_source, s_name) = parse_ref(primary_ref), parse_ref(secondary_ref)
    primary = find_official(session, p_name, p_source)
    secondary = find_official(session, s_name, s_source)
    if primary is None or secondary is None:
        missing = primary_ref if primary is None else secondary_ref
        raise IdentityError(f"no official {missing}; run the directory sync first")
    if primary.id == secondary.id:
        raise IdentityError("these are the same official already")
    if not secondary.external_id:
        raise IdentityError(f"{secondary_ref} is not a directory entry; only directory entries can be linked")
    existing = session.get(OfficialLink, (secondary.source, secondary.external_id))
    if existing is not None:
        raise IdentityError(f"{secondary_ref} is already linked to another official")
    session.add(OfficialLink(source=secondary.source, external_id=secondary.external_id, official_id=primary.id))
    secondary.enabled = False
    end_access(session, secondary.id, "linked_to_another_official")
    emit(session, primary, "update", {"linked": secondary_ref})
    emit(session, secondary, "leaver", {"reason": f"linked to {primary_ref}", "merged_into": primary.id})
    return primary, secondary


def linked_id(source: str | BindParameter[str], external_id: str | BindParameter[str]) -> ScalarSelect[str]:
    """The id of the official a directory entry is linked to, as a subquery."""
    return select(OfficialLink.official_id).where(OfficialLink.source == source,
                                                  OfficialLink.external_id == external_id).scalar_subquery()


def linked_ids(session: Session, source: str) -> set[str]:
    return set(session.scalars(select(OfficialLink.external_id).where(OfficialLink.source == source)))
