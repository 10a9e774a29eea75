#!/bin/bash
# Starts Debian nginx 1.22 (auth_request compiled in) as a forward-auth gateway on 127.0.0.1:${NGINX_FA_PORT:-8087}
# in front of a tiny upstream app (python, echoes the request headers as JSON) on 127.0.0.1:${NGINX_FA_UPSTREAM_PORT:-8088}.
# Every request first goes to AUTH_URL as a GET subrequest (no body; original Cookie/Authorization headers kept, plus
# X-Original-URL, X-Original-Method, X-Forwarded-Proto/Host/Uri). 2xx: X-Remote-User, X-Remote-Name, X-Remote-Email,
# X-Remote-Groups, X-Remote-Unit of the auth answer are copied onto the upstream request (client copies are replaced);
# 401: 302 to LOGIN_URL?rd=<original URL> (rd NOT percent-encoded, see README); 403: 403; anything else: 500.
#   AUTH_URL   (required) e.g. http://127.0.0.1:8000/gateway/verify
#   LOGIN_URL  (required) e.g. http://127.0.0.1:8000/gateway/start
#   CALLBACK_URL (optional) e.g. http://127.0.0.1:8000/gateway/ : /.sso-broker/ on this host is proxied there,
#              so the broker's callback sets the app's cookie on the app's own host
#   NGINX_FA_DIR (default /tmp/nginx-forward-auth) nginx.conf, temp paths, logs, pids (nginx -p DIR -c DIR/nginx.conf)
# Idempotent: a running instance from NGINX_FA_DIR is stopped and started again. Stop: nginx-forward-auth-stop.sh.
set -euo pipefail
D=${NGINX_FA_DIR:-/tmp/nginx-forward-auth}
PORT=${NGINX_FA_PORT:-8087}
UP=${NGINX_FA_UPSTREAM_PORT:-8088}
: "${AUTH_URL:?set AUTH_URL (the forward-auth endpoint)}"
: "${LOGIN_URL:?set LOGIN_URL (where 401 answers are redirected, with rd=)}"
if ! [ -x /usr/sbin/nginx ]; then
  ls /var/lib/apt/lists/ 2>/dev/null | grep -q _Packages || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null   # policy-rc.d keeps its own nginx from starting
fi
/usr/sbin/nginx -V 2>&1 | grep -q -- --with-http_auth_request_module || { echo "this nginx lacks auth_request" >&2; exit 1; }
"$(dirname "$0")/nginx-forward-auth-stop.sh" >/dev/null 2>&1 || true
mkdir -p "$D/tmp" "$D/logs"
: > "$D/error.log"; : > "$D/upstream.log"
cat > "$D/echo_app.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def answer(self):
        # http.server decodes header bytes as latin-1; undo that so UTF-8 header values show as sent
        def utf8(v):
            try: return v.encode("latin-1").decode("utf-8")
            except UnicodeError: return v
        hdrs = {k: utf8(v) for k, v in self.headers.items()}
        body = json.dumps({"method": self.command, "path": self.path, "headers": hdrs},
                          ensure_ascii=False, indent=1).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    do_GET = do_POST = do_PUT = do_DELETE = answer
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
setsid python3 "$D/echo_app.py" "$UP" </dev/null >>"$D/upstream.log" 2>&1 &
echo $! > "$D/upstream.pid"
H="proxy_set_header"
cat > "$D/nginx.conf" <<CONF
daemon on;
worker_processes 1;
pid $D/nginx.pid;
error_log $D/error.log info;
events { worker_connections 256; }
http {
  access_log $D/access.log;
  client_body_temp_path $D/tmp/body; proxy_temp_path $D/tmp/proxy; fastcgi_temp_path $D/tmp/fastcgi;
  uwsgi_temp_path $D/tmp/uwsgi; scgi_temp_path $D/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT;
    location / {
      auth_request /_forward_auth;
      auth_request_set \$fa_user   \$upstream_http_x_remote_user;
      auth_request_set \$fa_name   \$upstream_http_x_remote_name;
      auth_request_set \$fa_email  \$upstream_http_x_remote_email;
      auth_request_set \$fa_groups \$upstream_http_x_remote_groups;
      auth_request_set \$fa_unit   \$upstream_http_x_remote_unit;
      error_page 401 =302 $LOGIN_URL?rd=\$scheme://\$http_host\$request_uri;
      $H X-Remote-User   \$fa_user;
      $H X-Remote-Name   \$fa_name;
      $H X-Remote-Email  \$fa_email;
      $H X-Remote-Groups \$fa_groups;
      $H X-Remote-Unit   \$fa_unit;
      $H Host \$http_host;
      proxy_pass http://127.0.0.1:$UP;
    }
    $( [ -n "${CALLBACK_URL:-}" ] && printf 'location /.sso-broker/ { proxy_pass %s; proxy_set_header Host $http_host; proxy_set_header X-Forwarded-Proto $scheme; }' "$CALLBACK_URL" )
    location = /_forward_auth {
      internal;
      proxy_pass $AUTH_URL;
      proxy_method GET;
      proxy_pass_request_body off;
      $H Content-Length "";
      $H X-Original-URL \$scheme://\$http_host\$request_uri;
      $H X-Original-Method \$request_method;
      $H X-Forwarded-Proto \$scheme;
      $H X-Forwarded-Host \$http_host;
      $H X-Forwarded-Uri \$request_uri;
    }
  }
}
CONF
/usr/sbin/nginx -t -p "$D" -c "$D/nginx.conf" 2>&1 | grep -v 'syntax is ok\|test is successful' >&2 || true
/usr/sbin/nginx -p "$D" -c "$D/nginx.conf"
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$UP/" && [ -s "$D/nginx.pid" ] && curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1
done
curl -s -o /dev/null "http://127.0.0.1:$PORT/" || { echo "nginx did not answer on 127.0.0.1:$PORT within 10 s; log: $D/error.log" >&2; tail -20 "$D/error.log" "$D/upstream.log" >&2; exit 1; }
echo "url=http://127.0.0.1:$PORT/ upstream=http://127.0.0.1:$UP/ auth_url=$AUTH_URL login_url=$LOGIN_URL pid=$(cat "$D/nginx.pid") upstream_pid=$(cat "$D/upstream.pid") log=$D/error.log"
