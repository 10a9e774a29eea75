"""The deployment files: docker-compose.yml validates offline, and the Dockerfile's build commands, run
here without Docker on exactly the files it copies, give an installation that migrates and serves."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "SSO_MASTER_KEY": "x" * 43, "LDAP_ADMIN_PASSWORD": "secret"}


def compose_config(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker-compose", *args, "config"], cwd=ROOT, env=env or ENV, capture_output=True,
                          text=True, timeout=60)


def test_compose_file_is_valid_and_complete() -> None:
    result = subprocess.run(["docker-compose", "config", "-q"], cwd=ROOT, env=ENV, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(compose_config("--profile", "redis").stdout)["services"]
    assert set(services) == {"broker", "worker", "postgres", "openldap", "redis"}
    assert services["redis"]["profiles"] == ["redis"]  # optional: only with --profile redis
    for name in ("broker", "postgres", "openldap", "redis"):
        assert "healthcheck" in services[name], name
    assert "/readyz" in " ".join(services["broker"]["healthcheck"]["test"])
    assert services["worker"]["command"][:2] == ["sso-broker", "worker"]
    assert services["worker"]["depends_on"]["broker"]["condition"] == "service_healthy"
    assert services["worker"]["environment"]["SSO_DATABASE_URL"] == services["broker"]["environment"][
        "SSO_DATABASE_URL"]
    for name in ("broker", "postgres", "openldap"):
        assert services[name].get("volumes"), name


def test_compose_refuses_to_start_without_a_master_key() -> None:
    env = {k: v for k, v in ENV.items() if k != "SSO_MASTER_KEY"}
    result = subprocess.run(["docker-compose", "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0 and "SSO_MASTER_KEY" in result.stderr


def test_a_first_env_file_works_first_time(tmp_path: Path) -> None:
    """The first-time path: scripts/new-env.sh, then docker-compose accepts the file; the key opens secrets."""
    from app.crypto import SecretBox, load_master_key

    env_file = tmp_path / ".env"
    made = subprocess.run(["bash", str(ROOT / "scripts" / "new-env.sh"), "https://sso.bacninh.gov.vn"], cwd=ROOT,
                          env={**os.environ, "ENV_FILE": str(env_file)}, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line and line[0] != "#")
    assert values["SSO_ISSUER"] == "https://sso.bacninh.gov.vn" and values["POSTGRES_PASSWORD"] != "change-me"
    box = SecretBox(load_master_key(values["SSO_MASTER_KEY"], tmp_path / "unused"))
    assert box.open(box.seal(b"bind password")) == b"bind password"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SSO_", "LDAP_", "POSTGRES_"))}
    checked = subprocess.run(["docker-compose", "--env-file", str(env_file), "config", "-q"], cwd=ROOT, env=clean,
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    again = subprocess.run(["bash", str(ROOT / "scripts" / "new-env.sh")], cwd=ROOT,
                           env={**os.environ, "ENV_FILE": str(env_file)}, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "exists" in again.stderr  # never overwrites the key


def test_env_example_names_only_real_settings() -> None:
    from app.settings import Settings

    fields = {f"SSO_{name.upper()}" for name in Settings.model_fields}
    names = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
             if line and not line.startswith("#")}
    assert {n for n in names if n.startswith("SSO_")} - fields <= {"SSO_WORKERS", "SSO_SYNC_INTERVAL"}


def test_dockerfile_build_commands_make_a_working_installation(tmp_path: Path) -> None:
    """Replays the build stage: its COPY lines into a fresh context, its RUN lines there; then the final
    stage's command (migrate, serve) from the installed prefix, as a user without the source tree."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    final_from = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    build = lines[:final_from]
    assert any(line.strip() == "USER sso" for line in lines[final_from:])
    context, prefix = tmp_path / "src", tmp_path / "install"
    context.mkdir()
    for line in build:
        if line.startswith("COPY "):
            *sources, dest = shlex.split(line)[1:]
            for source in sources:
                target = context / (source if dest in ("./", ".") else dest)
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(ROOT / source, target)
    runs = [line[4:] for line in build if line.startswith("RUN ")]
    assert runs == ["pip install --no-cache-dir --prefix=/install ."]
    # --ignore-installed --no-deps: pip would otherwise uninstall the test environment's own sso-broker before
    # writing the prefix (its dependencies come from this environment, as the image's come from its own).
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-cache-dir", "--ignore-installed", "--no-deps",
                    f"--prefix={prefix}", "."], cwd=context, check=True, timeout=600, capture_output=True)
    site = next(prefix.glob("lib/python3*/site-packages"))
    env = {"PATH": f"{prefix / 'bin'}:{os.environ['PATH']}", "PYTHONPATH": str(site), "HOME": str(tmp_path),
           "SSO_DATA_DIR": str(tmp_path / "data"), "SSO_MASTER_KEY": "A" * 43}
    run_dir = tmp_path / "elsewhere"  # not the source tree: only what was installed
    run_dir.mkdir()
    subprocess.run([str(prefix / "bin" / "sso-broker"), "migrate"], cwd=run_dir, env=env, check=True, timeout=120,
                   capture_output=True)
    from tests.e2e.conftest import free_port

    port = free_port()
    server = subprocess.Popen([str(prefix / "bin" / "sso-broker"), "serve", "--port", str(port), "--workers", "2"],
                              cwd=run_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise AssertionError(server.stderr.read().decode()[-2000:] if server.stderr else "no answer")
        page = httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
        assert page.status_code == 200 and "/static/style.css" in page.text
        assert httpx.get(f"http://127.0.0.1:{port}/static/webauthn.js", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
