"""Bulk onboarding from the lists units send (CSV or XLSX): parse, preview row by row, commit in batches
that survive an interruption, and export in the same columns."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from app.admin import scope as perm
from app.admin.errors import AdminError, NotFound
from app.admin.models import ImportJob
from app.admin.operations import Admin
from app.audit.trail import record
from app.db import now
from app.identity.models import Official, Unit
from app.identity.names import normalize_text, normalize_username
from app.identity.service import EMAIL_RE, USERNAME_RE, NewOfficial, add_official, emit

COLUMNS = ("username", "display_name", "email", "phone", "title", "unit_code", "employee_number")
HEADERS_VI = ("Tên đăng nhập", "Họ và tên", "Thư điện tử", "Điện thoại", "Chức danh", "Mã đơn vị", "Mã cán bộ")
ALIASES = {normalize_text(v).casefold(): k for k, v in zip(COLUMNS, HEADERS_VI, strict=True)} | {
    c: c for c in COLUMNS} | {"email address": "email", "unit": "unit_code", "name": "display_name",
                               "họ tên": "display_name", "đơn vị": "unit_code", "email": "email"}
BATCH = 200
MAX_ROWS = 50_000
# Letters that appear when UTF-8 Vietnamese is read as Windows-1252 or Latin-1 ("Nguyá»…n").
MOJIBAKE_MARKS = ("Ã", "Ä", "Æ", "á»", "áº", "Â")


class ImportFileError(AdminError):
    """The file as a whole cannot be read."""


@dataclass(frozen=True)
class Progress:
    id: str
    status: str
    position: int
    total: int
    counts: dict[str, int]


def read_rows(filename: str, content: bytes) -> list[dict[str, str]]:
    if filename.lower().endswith(".xlsx"):
        return _xlsx_rows(content)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError("the file is not UTF-8: in Excel choose 'CSV UTF-8', or upload the .xlsx",
                              "file") from exc
    return _map_headers(list(csv.reader(io.StringIO(text))))


def _xlsx_rows(content: bytes) -> list[dict[str, str]]:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook is the same answer to the admin
        raise ImportFileError("the file is not a readable .xlsx workbook", "file") from exc
    rows = [["" if cell is None else str(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]
    return _map_headers(rows)


def _map_headers(rows: list[list[str]]) -> list[dict[str, str]]:
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ImportFileError("the file has no rows", "file")
    header = [ALIASES.get(normalize_text(h).casefold()) for h in rows[0]]
    missing = [c for c in ("username", "display_name", "unit_code") if c not in header]
    if missing:
        raise ImportFileError(f"missing columns: {', '.join(missing)} (headers: {', '.join(HEADERS_VI)} "
                              f"or {', '.join(COLUMNS)})", "file")
    if len(rows) - 1 > MAX_ROWS:
        raise ImportFileError(f"at most {MAX_ROWS} rows per file", "file")
    return [{col: (row[i].strip() if i < len(row) else "") for i, col in enumerate(header) if col}
            for row in rows[1:]]


def _repaired_word(word: str) -> str:
    if not any(mark in word for mark in MOJIBAKE_MARKS):
        return word
    for codec in ("cp1252", "latin-1"):
        try:
            return word.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return word


def repaired(text: str) -> str | None:
    """The Vietnamese text a mis-decoded string was, if it was one. Word by word: a name can be mis-encoded in
    part only ('Nguyá»…n Văn Tèo'), and a correct word cannot be encoded back to bytes as a whole line would."""
    words = re.split(r"(\s+)", text)
    fixed = "".join(_repaired_word(word) for word in words)
    return fixed if fixed != text else None


class BulkImport:
    def __init__(self, admin: Admin) -> None:
        self.admin = admin
        self.s: Session = admin.s

    def preview(self, filename: str, content: bytes) -> ImportJob:
        rows = read_rows(filename, content)
        digest = hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        job = ImportJob(id=str(uuid.uuid4()), created_by=self.admin.actor.id, filename=filename[:300],
                        digest=digest, rows=rows, results=self._check(rows), status="previewed", position=0,
                        scope_unit_ids=sorted(self.admin.scope.units(perm.IMPORT)))
        self.s.add(job)
        self.s.flush()
        return job

    def _check(self, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
        units = {u.code: u for u in self.s.scalars(select(Unit))}
        allowed = self.admin.scope.units(perm.IMPORT)
        seen: dict[str, int] = {}
        results = []
        existing = self._existing({normalize_username(r.get("username", "")) for r in rows})
        for number, row in enumerate(rows, start=2):  # the spreadsheet's own row numbers (1 is the header)
            errors = []
            for field in ("display_name", "title", "username"):
                fixed = repaired(row.get(field, ""))
                if fixed:
                    errors.append(f"{field}: mis-encoded Vietnamese, did you mean {fixed!r}? Save as UTF-8")
            username = normalize_username(row.get("username", ""))
            if not USERNAME_RE.match(username):
                errors.append("username: 2-150 letters, digits, '.', '-', '_' or '@'")
            if not row.get("display_name"):
                errors.append("display_name: required")
            if row.get("email") and not EMAIL_RE.match(row["email"]):
                errors.append(f"email: {row['email']!r} is not an e-mail address")
            unit = units.get(row.get("unit_code", ""))
            if unit is None or unit.id not in allowed:
                errors.append(f"unit_code: no unit {row.get('unit_code')!r} among yours")
            if username in seen:
                errors.append(f"username: duplicate of row {seen[username]}")
            seen.setdefault(username, number)
            action = "error" if errors else self._action(existing.get(username), row, unit)
            if action == "taken":
                errors.append(f"username: {username!r} belongs to an official outside your units")
                action = "error"
            results.append({"row": number, "username": username, "action": action, "errors": errors})
        return results

    def _existing(self, usernames: set[str]) -> dict[str, Official]:
        """The local officials the file names, fetched a thousand names per query rather than one per row."""
        names, found = sorted(usernames), {}
        for start in range(0, len(names), 1000):
            found.update({o.username: o for o in self.s.scalars(select(Official).where(
                Official.username.in_(names[start:start + 1000]), Official.source == "local"))})
        return found

    def _action(self, existing: Official | None, row: dict[str, str], unit: Unit | None) -> str:
        if existing is None:
            return "create"
        if existing.unit_id not in self.admin.scope.units(perm.IMPORT):
            return "taken"
        return "unchanged" if _same(existing, row, unit) else "update"

    def commit(self, job_id: str, max_rows: int | None = None,
               progress: Callable[[Progress], None] = lambda _: None) -> Progress:
        """Apply the previewed rows from where the last run stopped, one batch per transaction."""
        job = self.job(job_id)
        if any(r["action"] == "error" for r in job.results):
            raise AdminError("fix the rows with errors and upload the file again", "file")
        job.status = "committing"
        done = 0
        while job.position < len(job.rows) and (max_rows is None or done < max_rows):
            end = min(job.position + BATCH, len(job.rows))
            for index in range(job.position, end):
                self._apply(job.rows[index], job.results[index])
            done += end - job.position
            job.position, job.updated_at = end, now()
            flag_modified(job, "results")  # outcomes were written into the JSON list in place
            self.s.commit()  # each batch is kept: an interrupted import resumes here
            progress(self.progress(job))
        if job.position >= len(job.rows) and job.status != "done":
            job.status = "done"
            record(self.s, "import.committed", self.admin.actor, target=job.id,
                   details={"file": job.filename, **self.progress(job).counts})
        return self.progress(job)

    def _apply(self, row: dict[str, str], result: dict[str, Any]) -> None:
        username = result["username"]
        unit = self.s.scalars(select(Unit).where(Unit.code == row["unit_code"])).one()
        existing = self.s.scalars(select(Official).where(Official.username == username,
                                                         Official.source == "local")).first()
        if existing is None:
            official = add_official(self.s, NewOfficial(
                username=username, display_name=row["display_name"], email=row.get("email") or None,
                phone=row.get("phone") or None, title=row.get("title") or None, unit_code=unit.code))
            official.employee_number = row.get("employee_number") or None
            result["outcome"] = "created"
            return
        if _same(existing, row, unit):
            result["outcome"] = "unchanged"
            return
        moved = existing.unit_id != unit.id
        existing.display_name = normalize_text(row["display_name"])
        existing.email = (row.get("email") or "").lower() or None
        existing.phone, existing.title = row.get("phone") or None, row.get("title") or None
        existing.employee_number, existing.unit_id = row.get("employee_number") or None, unit.id
        emit(self.s, existing, "mover" if moved else "update")
        result["outcome"] = "updated"

    def job(self, job_id: str) -> ImportJob:
        job = self.s.get(ImportJob, job_id)
        if job is None or job.created_by != self.admin.actor.id and not self.admin.scope.allows(perm.IMPORT, None):
            raise NotFound(f"no import {job_id!r}")
        return job

    def progress(self, job: ImportJob) -> Progress:
        counts: dict[str, int] = {}
        for result in job.results:
            key = result.get("outcome") or result["action"]
            counts[key] = counts.get(key, 0) + 1
        return Progress(job.id, job.status, job.position, len(job.rows), counts)


def _same(o: Official, row: dict[str, str], unit: Unit | None) -> bool:
    return (o.display_name == normalize_text(row.get("display_name", "")) and (o.email or "") ==
            (row.get("email") or "").lower() and (o.phone or "") == (row.get("phone") or "") and
            (o.title or "") == (row.get("title") or "") and (o.employee_number or "") ==
            (row.get("employee_number") or "") and unit is not None and o.unit_id == unit.id)


def export_rows(officials: list[Official], units: dict[str, str]) -> list[list[str]]:
    return [list(HEADERS_VI)] + [[o.username, o.display_name, o.email or "", o.phone or "", o.title or "",
                                  units.get(o.unit_id or "", ""), o.employee_number or ""] for o in officials]


def export_csv(rows: list[list[str]]) -> Iterator[str]:
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel opens a UTF-8 CSV correctly only with the byte-order mark
    csv.writer(buffer).writerows(rows)
    yield buffer.getvalue()


def export_xlsx(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Cán bộ"
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
