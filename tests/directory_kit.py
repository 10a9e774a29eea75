"""Real OpenLDAP servers for the tests: the project's own start script and directory generator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ldap3 import Connection, Server

ROOT = Path(__file__).resolve().parents[1]
START = ROOT / "scripts" / "services" / "slapd-start.sh"
STOP = ROOT / "scripts" / "services" / "slapd-stop.sh"
GENERATOR = ROOT / "scripts" / "gen_directory.py"
PASSWORD = "Test@12345"
ADMIN_PW = "admin-secret"


@dataclass
class Slapd:
    name: str
    suffix: str
    port: int
    directory: Path
    ldif: Path
    # Set by anything that changes the directory; the next test then gets a freshly loaded one.
    dirty: bool = True
    ldaps_port: int | None = None

    @property
    def ca_file(self) -> str:
        return str(self.directory / "tls" / "cert.pem")

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def admin_dn(self) -> str:
        return f"cn=admin,{self.suffix}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLAPD_DIR": str(self.directory), "SLAPD_PORT": str(self.port),
                "SLAPD_LDAPS_PORT": str(self.ldaps_port or ""), "SLAPD_SUFFIX": self.suffix,
                "SLAPD_PWD_MAX_FAILURE": "0"}

    def start(self, reload: bool = True) -> None:
        args = ["bash", str(START)] + ([str(self.ldif)] if reload else [])
        result = subprocess.run(args, env=self.env(), capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"slapd {self.name} did not start: {result.stdout}{result.stderr}")
        self.dirty = False

    def stop(self) -> None:
        self.dirty = True
        subprocess.run(["bash", str(STOP)], env=self.env(), capture_output=True, timeout=60)

    def admin(self) -> Connection:
        self.dirty = True
        return Connection(Server(self.url), self.admin_dn, ADMIN_PW, auto_bind=True)

    def uids(self) -> list[str]:
        return re.findall(r"^uid: (\S+)$", self.ldif.read_text(), re.M)

    def dn_of(self, uid: str) -> str:
        match = re.search(rf"^dn: (uid={re.escape(uid)},[^\n]+)$", self.ldif.read_text(), re.M)
        assert match, uid
        return match.group(1)

    def source_config(self) -> dict[str, object]:
        return {"name": self.name, "urls": [self.url], "bind_dn": self.admin_dn,
                "people_base": f"ou=units,{self.suffix}", "groups_base": f"ou=groups,{self.suffix}",
                "units_base": f"ou=units,{self.suffix}"}


def generate(directory: Path, province: str, officials: int) -> Path:
    out = directory / f"{province}.ldif"
    if not out.exists():
        subprocess.run([sys.executable, str(GENERATOR), "--officials", str(officials), "--province", province,
                        "--memberof", "--password", PASSWORD, "--out", str(out)], check=True, capture_output=True)
    return out
