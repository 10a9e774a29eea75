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
  # Another apt (an unattended upgrade, a second run) may hold the lock: wait for it rather than fail at once.
  ls /var/lib/apt/lists/ 2>/dev/null | grep -q _Packages || apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
}

echo "slapd slapd/no_configuration boolean true" | debconf-set-selections 2>/dev/null || true
apt_install apache2 libapache2-mod-auth-openidc libapache2-mod-auth-cas php-cli php-cas php-xml php-curl curl \
  libapache2-mod-auth-mellon nginx docker-compose slapd ldap-utils openssl dovecot-imapd chromium
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import app, jose, pytest, xdist, ruff, mypy" 2>/dev/null \
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

# MariaDB (the sql_table connector's tests) and Redis (shared rate limits): checked, started when down.
if ! mysqladmin --host=127.0.0.1 --user=root ping >/dev/null 2>&1; then
  say "starting MariaDB"
  command -v mariadbd >/dev/null || apt_install mariadb-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  for _ in $(seq 100); do mysqladmin --host=127.0.0.1 --user=root ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  say "starting Redis"
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis \
    --logfile /var/log/redis/ci.log || true
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
fi

say "ruff"
.venv/bin/ruff check app connectors tests bench
say "mypy"
.venv/bin/mypy app connectors tests bench
say "pytest (SQLite and PostgreSQL), ${SSO_TEST_WORKERS:-3} worker processes"
# Most of a test's time is spent waiting for servers it started (slapd, Apache, a broker, Chromium), so three
# workers on two cores finish sooner (12.9 against 18.6 minutes measured on 2026-12-03). Each worker has its own
# databases, directories and free ports; a test module stays on one worker, so its module-scoped servers start
# once. SSO_TEST_WORKERS=0 runs everything in this process.
exec .venv/bin/pytest -p no:cacheprovider -n "${SSO_TEST_WORKERS:-3}" --dist loadfile "$@"
