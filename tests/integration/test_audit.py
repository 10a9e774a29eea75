"""The audit trail: security events recorded with actor, unit, address and time; the chain shows tampering."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError

from app.audit.models import AuditEvent
from app.audit.trail import AuditQuery, search, verify
from tests.kit import Flow, Kit


def actions(kit: Kit) -> list[tuple[str, str, str]]:
    with kit.broker.db.session() as s:
        return [(e.action, e.outcome, e.actor_kind) for e in search(s, AuditQuery(limit=1000))][::-1]


def test_logins_and_failures_are_recorded(kit: Kit) -> None:
    official_id = kit.official()
    client = kit.client(first_party=True)
    kit.submit_login(kit.http.get("/login"), username="hieund", password="sai")
    kit.submit_login(kit.http.get("/login"), username="khong-ton-tai", password="sai")
    kit.tokens(Flow(client))
    assert actions(kit) == [("login.password", "bad_credentials", "anonymous"),
                            ("login.password", "bad_credentials", "anonymous"),
                            ("login.password", "ok", "official")]
    with kit.broker.db.session() as s:
        events = search(s, AuditQuery(limit=10))
        assert events[0].actor == official_id and events[0].address == "testclient" and events[0].unit_id
        assert events[1].actor == "khong-ton-tai"  # the name tried, for the investigation
        assert events[2].actor == "hieund" and events[2].target == official_id and events[2].unit_id
    assert verify(kit.broker.db).ok


def test_cli_client_changes_are_recorded(kit: Kit, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    for name, value in (("SSO_DATABASE_URL", kit.settings.database_url), ("SSO_MASTER_KEY", kit.settings.master_key),
                        ("SSO_DATA_DIR", str(kit.settings.data_dir)), ("SSO_ISSUER", kit.settings.issuer)):
        monkeypatch.setenv(name, value)
    assert main(["client", "add", "docs", "--redirect-uri", "https://docs.example.gov.vn/cb"]) == 0
    assert main(["client", "rotate-secret", "docs"]) == 0
    assert main(["audit", "verify"]) == 0
    assert "audit trail intact: 2 events" in capsys.readouterr().out
    assert [a for a, _, _ in actions(kit)] == ["client.created", "client.secret_rotated"]
    assert main(["audit", "export", "--format", "csv"]) == 0
    assert "client.secret_rotated" in capsys.readouterr().out


def test_tampering_is_detected(kit: Kit) -> None:
    kit.official()
    for _ in range(3):
        kit.submit_login(kit.http.get("/login"), username="hieund", password="sai")
    assert verify(kit.broker.db).checked == 3
    engine = create_engine(kit.settings.database_url)
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if postgres:  # the database refuses edits outright; only an owner who disables the trigger gets through
            with pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
                conn.execute(text("UPDATE audit_events SET outcome = 'ok' WHERE seq = 2"))
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update"))
        conn.execute(text("UPDATE audit_events SET outcome = 'ok' WHERE seq = 2"))
    result = verify(kit.broker.db)
    assert not result.ok and result.checked == 1 and "event 2" in result.problem
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET outcome = 'bad_credentials' WHERE seq = 2"))
    assert verify(kit.broker.db).ok
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))  # removing the newest events
        if postgres:
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update"))
    result = verify(kit.broker.db)
    assert not result.ok and "removed" in result.problem
    engine.dispose()
    with kit.broker.db.session() as s:
        assert [e.seq for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))] == [1, 2]


def test_concurrent_writers_keep_one_chain(kit: Kit) -> None:
    """Four writers at once, starting with no head row at all (as after a truncation): one line, no gap."""
    import threading

    from app.audit.models import AuditHead
    from app.audit.trail import SYSTEM, record

    with kit.broker.db.session() as s:
        s.query(AuditHead).delete()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(10):
                with kit.broker.db.session() as s:
                    record(s, "test.write", SYSTEM, details={"writer": n, "i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = verify(kit.broker.db)
    assert result.ok and result.checked == 40


def test_events_in_savepoints_keep_one_chain(kit: Kit) -> None:
    """An event taken back with its savepoint leaves no gap, one kept with its savepoint no fork."""
    from app.audit.trail import SYSTEM, record

    with kit.broker.db.session() as s:
        before = s.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0
        record(s, "test.outer", SYSTEM)
        with pytest.raises(RuntimeError), s.begin_nested():
            record(s, "test.taken_back", SYSTEM)
            raise RuntimeError
        record(s, "test.outer", SYSTEM)
        with s.begin_nested():
            record(s, "test.kept", SYSTEM)
        record(s, "test.outer", SYSTEM)
    with kit.broker.db.session() as s:
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.seq > before).order_by(AuditEvent.seq)))
    assert actions == ["test.outer", "test.outer", "test.kept", "test.outer"]
    assert verify(kit.broker.db).ok


def test_a_batch_of_events_is_appended_in_order_on_one_chain(kit: Kit) -> None:
    """What a provisioning batch does: its events written together, in order, after one written alone."""
    from app.audit.trail import SYSTEM, Entry, append, record

    with kit.broker.db.session() as s:
        before = s.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0
        record(s, "test.alone", SYSTEM)
        append(s, [Entry("test.batch", SYSTEM, target=f"t{i}", details={"i": i}) for i in range(5)])
        append(s, [])
    with kit.broker.db.session() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.seq > before).order_by(AuditEvent.seq)))
    assert [(r.seq - before, r.action, r.target) for r in rows] == [
        (1, "test.alone", None), *((i + 2, "test.batch", f"t{i}") for i in range(5))]
    assert [r.details for r in rows[1:]] == [{"i": i} for i in range(5)]
    assert verify(kit.broker.db).ok
