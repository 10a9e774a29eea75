#!/bin/bash
# Starts a real phpCAS client (Debian php-cas 1.6.0 on php-cli 8.2, `php -S` built-in server) on
# 127.0.0.1:${PHPCAS_PORT:-8085}. GET / forces CAS login and then prints {"user", "attributes"} as JSON (UTF-8).
#   CAS_BASE_URL  (required) the CAS server prefix, e.g. http://127.0.0.1:8000/cas  (login, p3/serviceValidate,
#                 logout are appended). phpCAS itself only builds https:// URLs from host/port/uri; for an http
#                 base URL the page sets the login/validate/logout URLs explicitly (see README).
#   CAS_CA_FILE   (default: none = setNoCasServerValidation) PEM CA for an https CAS server (setCasServerCACert, CN checked)
#   PHPCAS_DEBUG  (0) 1 = phpCAS debug log in $PHPCAS_DIR/phpcas-debug.log
#   PHPCAS_DIR    (default /tmp/phpcas)  docroot, config, sessions, server log, pid
# /logout.php calls phpCAS::logout() (redirect to <base>/logout?service=...). Idempotent: restarts when running.
# Stop: phpcas-stop.sh.
set -euo pipefail
D=${PHPCAS_DIR:-/tmp/phpcas}
PORT=${PHPCAS_PORT:-8085}
: "${CAS_BASE_URL:?set CAS_BASE_URL (e.g. http://127.0.0.1:8000/cas)}"
if ! command -v php >/dev/null || [ ! -f /usr/share/php/CAS.php ] || ! php -m | grep -qx dom; then
  ls /var/lib/apt/lists/ 2>/dev/null | grep -q _Packages || apt-get update -qq
  # php-xml: phpCAS parses the validation answer with DOMDocument, but php-cas does not depend on it
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq php-cli php-cas php-xml php-curl >/dev/null
fi
if [ -f "$D/php.pid" ] && kill -0 "$(cat "$D/php.pid")" 2>/dev/null; then
  "$(dirname "$0")/phpcas-stop.sh" >/dev/null
fi
mkdir -p "$D/www" "$D/sessions"
SELF="http://127.0.0.1:$PORT"
python3 - "$D/phpcas.json" "$CAS_BASE_URL" "$SELF" "${CAS_CA_FILE:-}" "${PHPCAS_DEBUG:-0}" "$D/phpcas-debug.log" <<'PY'
import json, sys, urllib.parse
out, base, self_url, ca, debug, dbg = sys.argv[1:]
u = urllib.parse.urlsplit(base.rstrip("/"))
json.dump({"scheme": u.scheme, "host": u.hostname, "port": u.port or (443 if u.scheme == "https" else 80),
           "uri": u.path, "base": base.rstrip("/"), "service_base_url": self_url, "ca_file": ca,
           "debug_log": dbg if debug == "1" else ""}, open(out, "w"), indent=1)
PY
cat > "$D/www/cas_init.php" <<'PHP'
<?php
require_once 'CAS.php';   // /usr/share/php is on Debian's include_path
$cfg = json_decode(file_get_contents(__DIR__ . '/../phpcas.json'), true);
if ($cfg['debug_log']) { phpCAS::setDebug($cfg['debug_log']); phpCAS::setVerbose(true); }
// 5th argument (service base URL) is mandatory since phpCAS 1.6.0: it pins the service URL's scheme/host/port
phpCAS::client(CAS_VERSION_3_0, $cfg['host'], (int)$cfg['port'], $cfg['uri'], $cfg['service_base_url']);
if ($cfg['scheme'] === 'http') {
    // phpCAS hard-codes https:// for URLs built from host/port/uri. Explicit URLs may be http, but the login
    // URL is then used AS IS (service= is not appended for us); the validate URL still gets service/ticket.
    phpCAS::setServerLoginURL($cfg['base'] . '/login?service=' . urlencode(phpCAS::getServiceURL()));
    phpCAS::setServerServiceValidateURL($cfg['base'] . '/p3/serviceValidate');
    phpCAS::setServerLogoutURL($cfg['base'] . '/logout');
}
if ($cfg['ca_file']) { phpCAS::setCasServerCACert($cfg['ca_file'], true); } else { phpCAS::setNoCasServerValidation(); }
// Single logout: a POSTed logoutRequest from the CAS server ends the PHP session of that ticket
// (false: do not require the sender's reverse DNS name; the server is on loopback here).
phpCAS::handleLogoutRequests(false);
PHP
cat > "$D/www/index.php" <<'PHP'
<?php
require __DIR__ . '/cas_init.php';
phpCAS::forceAuthentication();
header('Content-Type: application/json; charset=utf-8');
echo json_encode(['user' => phpCAS::getUser(), 'attributes' => phpCAS::getAttributes()],
                 JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES), "\n";
PHP
cat > "$D/www/logout.php" <<'PHP'
<?php
require __DIR__ . '/cas_init.php';
phpCAS::logout();
PHP
echo 'ok' > "$D/www/health.txt"
: > "$D/php.log"
# -d: sessions in our dir; setsid detaches it; `php -S` serves one request at a time (PHP_CLI_SERVER_WORKERS for more)
setsid php -d session.save_path="$D/sessions" -d display_errors=0 -d log_errors=On -d error_reporting="E_ALL & ~E_DEPRECATED" \
  -S "127.0.0.1:$PORT" -t "$D/www" </dev/null >>"$D/php.log" 2>&1 &
echo $! > "$D/php.pid"
for _ in $(seq 100); do curl -sf -o /dev/null "$SELF/health.txt" && break; sleep 0.1; done
curl -sf -o /dev/null "$SELF/health.txt" || { echo "php -S did not answer on 127.0.0.1:$PORT within 10 s; log: $D/php.log" >&2; tail -20 "$D/php.log" >&2; exit 1; }
echo "url=$SELF/ logout=$SELF/logout.php cas_base_url=$CAS_BASE_URL pid=$(cat "$D/php.pid") log=$D/php.log"
