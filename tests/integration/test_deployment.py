"""The deployment files: docker-compose.yml validates offline, the Dockerfile runs what the project ships."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_is_valid() -> None:
    env = {**os.environ, "SSO_MASTER_KEY": "x" * 43}
    result = subprocess.run(["docker-compose", "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_a_master_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SSO_MASTER_KEY"}
    result = subprocess.run(["docker-compose", "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0 and "SSO_MASTER_KEY" in result.stderr


def test_dockerfile_runs_as_non_root_and_migrates_first() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER sso" in text and "sso-broker migrate &&" in text
    for path in ("app", "connectors", "migrations", "pyproject.toml"):
        assert f"COPY {path}" in text or f" {path} " in text, path
