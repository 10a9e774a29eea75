"""The Vietnamese government username rule."""

from __future__ import annotations

import unicodedata

from app.provisioning.usernames import base_username, unique_username


def test_given_name_plus_initials_folded() -> None:
    assert base_username("Hiếu", "Nguyễn", "Đình") == "hieund"
    assert base_username("Đức", "Đặng", "Văn") == "ducdv"  # Đ is d, not dropped
    assert base_username("Mai", "Trần", "Thị Ngọc") == "maittn"
    assert base_username("Hùng", "Lê", "") == "hungl"


def test_nfd_input_gives_the_same_name() -> None:
    assert base_username(*(unicodedata.normalize("NFD", p) for p in ("Hiếu", "Nguyễn", "Đình"))) == "hieund"


def test_collisions_are_numbered_and_never_reused() -> None:
    held = {"hieund", "hieund2"}
    assert unique_username("hieund", lambda names: held & set(names)) == "hieund3"
    assert unique_username("maitt", lambda names: held & set(names)) == "maitt"
    crowd = {"bonv"} | {f"bonv{n}" for n in range(2, 100)}
    asked: list[int] = []

    def held_of(names: list[str]) -> set[str]:
        asked.append(len(names))
        return crowd & set(names)

    assert unique_username("bonv", held_of) == "bonv100"
    assert asked == [10, 20, 40, 80]  # four look-ups for the hundredth namesake


def test_fallback_when_names_are_missing() -> None:
    assert base_username("", "", "", "Cán.Bộ-01") == "can.bo-01"
    assert base_username("", "", "", "") == "user"


def test_every_connector_kind_declares_its_schema() -> None:
    from app.provisioning.registry import kinds
    from connectors.base import Operation

    found = kinds()
    assert {"sql_table", "scim", "ldap_target", "dovecot_mailbox", "rest", "zimbra"} <= set(found)
    for name, cls in found.items():
        schema = cls.schema()
        assert schema["config"]["additionalProperties"] is False, name  # a typo in configuration is an error
        assert Operation.CREATE in cls.operations and Operation.GET in cls.operations, name
    assert "groups" in found["scim"].schema()["operations"]
    assert "set_password" in found["zimbra"].schema()["operations"]
