"""Fast tests of pure logic: acr ordering, claims by scope, SCIM filters and PATCH, the mojibake repair, the
Retry-After reading and the connector-side account shape (no database, no network)."""

from __future__ import annotations

from typing import Any

import pytest

from app.admin.bulk import repaired
from app.oidc.acr import ACR_MFA, ACR_PASSWORD, ACR_PHISHING_RESISTANT, acr_for, required_acr, satisfies
from app.oidc.claims import scope_claims
from app.oidc.models import Subject, UnitInfo
from app.scim.filters import InvalidFilter, parse
from app.scim.patch import PatchError, apply
from connectors.base import retry_after

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


# --- acr ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("acr_values", "client_mfa", "policy_mfa", "expected"), [
    ("", False, False, ACR_PASSWORD),
    (ACR_MFA, False, False, ACR_MFA),
    (f"{ACR_PHISHING_RESISTANT} {ACR_MFA}", False, False, ACR_MFA),  # the weakest the client accepts
    ("urn:unknown", False, False, ACR_PASSWORD),  # unknown values are ignored
    ("", True, False, ACR_MFA),
    ("", False, True, ACR_MFA),
    (ACR_PHISHING_RESISTANT, True, False, ACR_PHISHING_RESISTANT),  # the policy never lowers a request
])
def test_required_acr(acr_values: str, client_mfa: bool, policy_mfa: bool, expected: str) -> None:
    assert required_acr(acr_values, client_mfa, policy_mfa) == expected


def test_acr_earned_and_satisfied() -> None:
    assert acr_for(("pwd",)) == ACR_PASSWORD
    assert acr_for(("pwd", "otp", "mfa")) == ACR_MFA
    assert acr_for(("hwk", "mfa")) == ACR_PHISHING_RESISTANT
    assert satisfies(ACR_PHISHING_RESISTANT, ACR_MFA) and not satisfies(ACR_PASSWORD, ACR_MFA)
    assert not satisfies(None, ACR_MFA) and satisfies(None, ACR_PASSWORD)


# --- claims ---------------------------------------------------------------------------------------------
def subject(**over: Any) -> Subject:
    unit = UnitInfo("u1", "Sở Tài chính", "so-tc", ({"id": "p", "code": "bac-ninh", "name": "Tỉnh Bắc Ninh"},
                                                    {"id": "u1", "code": "so-tc", "name": "Sở Tài chính"}))
    values: dict[str, Any] = {"id": "sub-1", "username": "hunglv", "display_name": "Lê Văn Hùng",
                              "given_name": "Hùng", "family_name": "Lê", "email": "hunglv@bacninh.gov.vn",
                              "phone": "+84912000003", "title": "Kế toán viên", "unit": unit, "groups": ("cb-so-tc",)}
    return Subject(**{**values, **over})


def test_claims_follow_the_scopes() -> None:
    assert scope_claims(subject(), set()) == {"sub": "sub-1"}
    profile = scope_claims(subject(), {"profile"})
    assert profile["name"] == "Lê Văn Hùng" and profile["unit"]["path"][0]["code"] == "bac-ninh"
    assert "email" not in profile and "middle_name" not in profile  # empty names are left out
    assert scope_claims(subject(), {"email"})["email_verified"] is True
    assert scope_claims(subject(), {"phone"})["phone_number_verified"] is False
    assert scope_claims(subject(email=None), {"email"}) == {"sub": "sub-1"}
    assert scope_claims(subject(), {"groups"})["groups"] == ["cb-so-tc"]


# --- SCIM filters and PATCH -----------------------------------------------------------------------------
RESOURCE = {"schemas": [USER], "userName": "Hieund", "active": True, "title": "Chuyên viên",
            "name": {"familyName": "Nguyễn", "givenName": "Hiếu"},
            "emails": [{"value": "hieund@bacninh.gov.vn", "type": "work", "primary": True},
                       {"value": "hieu@gmail.com", "type": "home"}]}


@pytest.mark.parametrize(("text", "expected"), [
    ('userName eq "hieund"', True),  # case-insensitive, as userName is caseExact=false
    ('userName ne "hieund"', False),
    ('name.familyName sw "Ngu"', True),
    ('emails[type eq "home" and value co "gmail"]', True),
    ('emails[type eq "other"]', False),
    ('title pr and not (active eq false)', True),
    ('userName eq "x" or title eq "Chuyên viên"', True),
])
def test_filters(text: str, expected: bool) -> None:
    assert parse(text)(RESOURCE) is expected


@pytest.mark.parametrize("text", ['userName eq', '(userName eq "a"', 'userName zz "a"', ""])
def test_bad_filters_are_refused(text: str) -> None:
    with pytest.raises(InvalidFilter):
        parse(text)


def test_patch_operations() -> None:
    changed = apply(RESOURCE, [
        {"op": "replace", "path": "active", "value": False},
        {"op": "add", "path": "name.middleName", "value": "Đình"},
        {"op": "remove", "path": 'emails[type eq "home"]'},
        {"op": "replace", "value": {"title": "Phó phòng"}},
    ], [USER])
    assert changed["active"] is False and changed["name"]["middleName"] == "Đình"
    assert [e["type"] for e in changed["emails"]] == ["work"] and changed["title"] == "Phó phòng"
    assert RESOURCE["active"] is True  # the input is not changed in place
    with pytest.raises(PatchError):
        apply(RESOURCE, [{"op": "explode", "path": "active"}], [USER])


# --- small readers --------------------------------------------------------------------------------------
def test_mojibake_repair_word_by_word() -> None:
    assert repaired("Nguyá»…n Văn Tèo") == "Nguyễn Văn Tèo"
    assert repaired("Nguyễn Văn Tèo") is None and repaired("Trần Thị Mai") is None


def test_retry_after_reading() -> None:
    assert retry_after("120") == 120 and retry_after("999999") == 3600  # capped
    assert retry_after(None) is None and retry_after("soon") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # a date in the past: now


def test_the_head_revision_read_from_the_files_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    from app.migrate import alembic_config, head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
