"""Bulk onboarding: CSV and XLSX as units send them, preview with per-row errors, idempotent commit in
resumable batches, export in the same columns."""

from __future__ import annotations

import io

from app.identity.models import Official, ProvisioningEvent
from tests.admin_kit import build_province
from tests.kit import Kit

HEADER = "Tên đăng nhập,Họ và tên,Thư điện tử,Điện thoại,Chức danh,Mã đơn vị,Mã cán bộ\n"


def upload(http, name: str, content: bytes):  # type: ignore[no-untyped-def]
    return http.post("/admin/api/imports", files={"file": (name, content, "application/octet-stream")})


def test_preview_names_every_bad_row_and_changes_nothing(kit: Kit) -> None:
    p = build_province(kit)
    http = p.client_for("admin_a")
    mojibake = "Nguyễn Văn Sai".encode().decode("cp1252", errors="replace")
    body = (HEADER + "hoanglm,Hoàng Long Minh,hoanglm@bacninh.gov.vn,0912000002,Chuyên viên,xa-a,CB001\n"
            "saidonvi,Lê Thị Sai,,,,xa-khong-co,\n"
            "hoanglm,Hoàng Long Minh,,,,xa-a,\n"
            "thusai,Trần Thư,khong-phai-thu,,,xa-a,\n"
            f"mahoa,{mojibake},,,,xa-a,\n"
            "ngoai,Người Ngoài,,,,xa-b,\n"
            "mottu,Nguyá»…n Văn Tèo,,,,xa-a,\n")  # one word mis-encoded, the others right
    preview = upload(http, "danh-sach.csv", body.encode())
    assert preview.status_code == 201, preview.text
    rows = {r["row"]: r for r in preview.json()["rows"]}
    assert rows[3]["errors"] == ["unit_code: no unit 'xa-khong-co' among yours"]
    assert "duplicate of row 2" in rows[4]["errors"][0]
    assert "is not an e-mail address" in rows[5]["errors"][0]
    assert "mis-encoded Vietnamese" in rows[6]["errors"][0] and "Nguyễn Văn Sai" in rows[6]["errors"][0]
    assert rows[7]["errors"] == ["unit_code: no unit 'xa-b' among yours"]  # another commune's unit
    assert "mis-encoded Vietnamese" in rows[8]["errors"][0] and "Nguyễn Văn Tèo" in rows[8]["errors"][0]
    refused = http.post(f"/admin/api/imports/{preview.json()['id']}/commit")
    assert refused.status_code == 400
    with kit.broker.db.session() as s:
        assert s.query(Official).filter_by(username="hoanglm").count() == 0


def test_commit_is_idempotent_resumable_and_exports_round_trip(kit: Kit) -> None:
    p = build_province(kit)
    http = p.client_for("admin_a")
    lines = [f"cb{i:03d},Cán Bộ Số {i},cb{i:03d}@bacninh.gov.vn,,Chuyên viên,xa-a,NS{i:03d}" for i in range(450)]
    content = (HEADER + "\n".join(lines) + "\n").encode()
    job = upload(http, "lon.csv", content).json()
    assert job["counts"] == {"create": 450} and job["status"] == "previewed"
    partial = http.post(f"/admin/api/imports/{job['id']}/commit", params={"max_rows": 150}).json()
    assert partial["status"] == "committing" and partial["position"] == 200  # one batch of 200
    done = http.post(f"/admin/api/imports/{job['id']}/commit").json()
    assert done["status"] == "done" and done["position"] == 450 and done["counts"] == {"created": 450}
    with kit.broker.db.session() as s:
        assert s.query(Official).filter(Official.username.like("cb%")).count() == 450
        joiners = s.query(ProvisioningEvent).filter_by(kind="joiner").count()
    again = upload(http, "lon.csv", content).json()
    assert again["counts"] == {"unchanged": 450}
    http.post(f"/admin/api/imports/{again['id']}/commit")
    with kit.broker.db.session() as s:
        assert s.query(Official).filter(Official.username.like("cb%")).count() == 450
        assert s.query(ProvisioningEvent).filter_by(kind="joiner").count() == joiners  # nothing duplicated

    exported = http.get("/admin/api/officials/export", params={"format": "xlsx"})
    assert exported.status_code == 200
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert [c.value for c in sheet[1]][:2] == ["Tên đăng nhập", "Họ và tên"]
    assert sheet.max_row == 1 + 450 + 5  # the 450, plus the commune's own admins and target
    round_trip = upload(http, "xuat.xlsx", exported.content).json()
    assert set(round_trip["counts"]) == {"unchanged"}
    csv_export = http.get("/admin/api/officials/export").content
    assert csv_export.startswith("\ufeff".encode()) and "Cán Bộ Số 7".encode() in csv_export


def test_an_edited_row_is_an_update_and_a_bad_file_a_clear_error(kit: Kit) -> None:
    p = build_province(kit)
    http = p.client_for("admin_a")
    first = upload(http, "a.csv", (HEADER + "lanpt,Phạm Thị Lan,,,Kế toán,xa-a,\n").encode()).json()
    http.post(f"/admin/api/imports/{first['id']}/commit")
    edited = upload(http, "a.csv", (HEADER + "lanpt,Phạm Thị Lan,,,Trưởng phòng,xa-a,\n").encode()).json()
    assert edited["counts"] == {"update": 1}
    assert http.post(f"/admin/api/imports/{edited['id']}/commit").json()["counts"] == {"updated": 1}
    latin = upload(http, "b.csv", (HEADER + "x1,Phạm Thị Lan,,,,xa-a,\n").encode("cp1258", errors="replace"))
    assert latin.status_code == 400 and latin.json()["field"] == "file" and "UTF-8" in latin.json()["message"]
    no_columns = upload(http, "c.csv", b"a,b\n1,2\n")
    assert no_columns.status_code == 400 and "missing columns" in no_columns.json()["message"]
    assert p.client_for("help_a").post("/admin/api/imports", files={"file": ("a.csv", b"x")}).status_code == 403
