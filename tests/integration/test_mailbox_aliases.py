"""The mailbox connector keeps the alias map of former addresses beside Dovecot's users file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from app.db import now
from app.identity.models import EmailAlias
from app.provisioning.engine import ProvisioningEngine, wait_for_tasks
from tests.kit import Kit


def test_aliases_follow_the_officials_former_addresses(kit: Kit, tmp_path: Path) -> None:
    users, aliases = tmp_path / "users", tmp_path / "virtual"
    users.write_text("")
    aliases.write_text("postmaster@bacninh.gov.vn admin@bacninh.gov.vn\n")  # a line the connector does not own
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    with kit.broker.db.session() as s:
        engine.save_instance(s, "hop-thu", "dovecot_mailbox", {"users_file": str(users), "domain": "bacninh.gov.vn",
                                                              "aliases_file": str(aliases)}, {"all": True}, {})
    official = kit.official()
    with kit.broker.db.session() as s:
        s.add(EmailAlias(address="hieund@bacgiang.gov.vn", official_id=official, expires_at=now() + 3600))
        s.add(EmailAlias(address="hieu.nd@bacgiang.gov.vn", official_id=official, expires_at=now() + 3600))
    wait_for_tasks(engine, 30)
    assert users.read_text() == "hieund@bacninh.gov.vn::::::\n"
    assert aliases.read_text().splitlines() == ["postmaster@bacninh.gov.vn admin@bacninh.gov.vn",
                                                "hieu.nd@bacgiang.gov.vn hieund@bacninh.gov.vn",
                                                "hieund@bacgiang.gov.vn hieund@bacninh.gov.vn"]
    with kit.broker.db.session() as s:
        s.execute(update(EmailAlias).where(EmailAlias.address == "hieu.nd@bacgiang.gov.vn").values(expires_at=0))
    wait_for_tasks(engine, 30)
    assert aliases.read_text().splitlines() == ["postmaster@bacninh.gov.vn admin@bacninh.gov.vn",
                                                "hieund@bacgiang.gov.vn hieund@bacninh.gov.vn"]


def test_the_mailbox_is_the_officials_address_also_after_a_collision(kit: Kit, tmp_path: Path) -> None:
    from tests.kit import Flow

    users = tmp_path / "users"
    users.write_text("")
    engine = ProvisioningEngine(kit.broker.db, kit.broker.box)
    with kit.broker.db.session() as s:
        engine.save_instance(s, "hop-thu", "dovecot_mailbox", {"users_file": str(users), "domain": "bacninh.gov.vn"},
                             {"all": True}, {})
    kit.official("hieund", email="hieund@bacninh.gov.vn")
    # the second Nguyễn Đình Hiếu: the naming rule would make hieund2, his address says otherwise
    kit.official("hieund.b", email="hieu.nd@bacninh.gov.vn")
    wait_for_tasks(engine, 30)
    assert sorted(users.read_text().split()) == ["hieu.nd@bacninh.gov.vn::::::", "hieund@bacninh.gov.vn::::::"]
    client = kit.client("dovecot", first_party=True)
    tokens = kit.tokens(Flow(client), username="hieund.b")
    seen = kit.introspect(client, tokens["access_token"])
    assert seen["email"] == "hieu.nd@bacninh.gov.vn"  # what Dovecot compares with the login: the mailbox
