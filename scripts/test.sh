#!/usr/bin/env bash
# The whole test suite, from a clean checkout: installs what the tests need when it is missing
# (Python test extras in .venv, Debian packages, npm packages), checks the services they use, then runs
# ruff, mypy and pytest on SQLite and PostgreSQL. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
say() { printf '== %s\n' "$*"; }

apt_install() {  # apt_install CHECK_CMD PACKAGE...
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  ls /var/lib/apt/lists/ 2>/dev/null | grep -q _Packages || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

echo "slapd slapd/no_configuration boolean true" | debconf-set-selections 2>/dev/null || true
apt_install apache2 libapache2-mod-auth-openidc curl docker-compose slapd ldap-utils openssl dovecot-imapd chromium
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import app, jose, pytest, ruff, mypy" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  say "installing the package with its test extras"
  .venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
  touch .venv/.installed
fi

if [ ! -d tests/e2e/node/node_modules/openid-client ] || [ ! -d tests/e2e/node/node_modules/oidc-provider ]; then
  say "installing npm packages for the relying-party tests"
  (cd tests/e2e/node && npm install --no-audit --no-fund --silent >/dev/null)
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 50); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
fi

say "ruff"
.venv/bin/ruff check app connectors tests bench
say "mypy"
.venv/bin/mypy app connectors
say "pytest (SQLite and PostgreSQL)"
exec .venv/bin/pytest -p no:cacheprovider "$@"
