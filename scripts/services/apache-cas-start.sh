#!/bin/bash
# Starts Apache 2.4 + mod_auth_cas (Debian libapache2-mod-auth-cas 1.2) as a real CAS client on
# 127.0.0.1:${APACHE_CAS_PORT:-8084}, protecting /protected/ (own httpd.conf in a temp dir; /etc/apache2 sites unused).
#   CAS_LOGIN_URL     (required) e.g. http://127.0.0.1:8000/cas/login   (service= is appended by the module)
#   CAS_VALIDATE_URL  (required) e.g. http://127.0.0.1:8000/cas/p3/serviceValidate (http works, only a warning)
#   CAS_CA_FILE       (default /etc/ssl/certs/) CA file or dir for an https validate URL (CASCertificatePath)
#   CAS_SSO_ENABLED   (On) honour single-logout POSTs from the CAS server (CASSSOEnabled)
#   CAS_DEBUG         (Off) On logs every step to error.log;  CAS_ATTR_PREFIX (CAS-) header prefix of attributes
#   APACHE_CAS_DIR    (default /tmp/apache-cas)  httpd.conf, htdocs, cookie cache, error.log, pid
# After login: /protected/ shows REMOTE_USER and the CAS-* attribute headers (SSI), /protected/whoami.html prints
# the whole environment (attributes appear as HTTP_CAS_<ATTR>, upper-cased, e.g. HTTP_CAS_DISPLAYNAME).
# Idempotent: an instance already running from APACHE_CAS_DIR is restarted with the current settings.
# Stop: apache-cas-stop.sh.
set -euo pipefail
D=${APACHE_CAS_DIR:-/tmp/apache-cas}
PORT=${APACHE_CAS_PORT:-8084}
: "${CAS_LOGIN_URL:?set CAS_LOGIN_URL (the login URL of the CAS server)}"
: "${CAS_VALIDATE_URL:?set CAS_VALIDATE_URL (e.g. the p3/serviceValidate URL of the CAS server)}"
M=/usr/lib/apache2/modules
if ! command -v apache2 >/dev/null || [ ! -f $M/mod_auth_cas.so ]; then
  ls /var/lib/apt/lists/ 2>/dev/null | grep -q _Packages || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq apache2 libapache2-mod-auth-cas >/dev/null
fi
if [ -f "$D/httpd.pid" ] && kill -0 "$(cat "$D/httpd.pid")" 2>/dev/null; then
  "$(dirname "$0")/apache-cas-stop.sh" >/dev/null
fi
mkdir -p "$D/htdocs/protected" "$D/run" "$D/cas-cookies"; chmod 755 "$D" "$D/htdocs" "$D/htdocs/protected"
chown www-data:www-data "$D/cas-cookies"; chmod 700 "$D/cas-cookies"   # the children (www-data) write sessions here
echo '<html><body>public</body></html>' > "$D/htdocs/index.html"
# the children run as www-data: every directory above $D must be traversable (mktemp -d makes 0700 ones)
runuser -u www-data -- test -r "$D/htdocs/index.html" || { echo "www-data cannot read $D/htdocs (chmod o+x the parents of $D)" >&2; exit 1; }
cat > "$D/htdocs/protected/index.html" <<'HTML'
<html><head><meta charset="utf-8"></head><body><h1>protected</h1>
<p>user: <!--#echo var="REMOTE_USER" --></p>
<p>displayName: <!--#echo var="HTTP_CAS_DISPLAYNAME" --></p>
<p>mail: <!--#echo var="HTTP_CAS_MAIL" --></p>
<p>auth header: <!--#echo var="HTTP_CAS_USER" --></p>
</body></html>
HTML
echo '<!--#printenv -->' > "$D/htdocs/protected/whoami.html"
: > "$D/error.log"
cat > "$D/httpd.conf" <<CONF
ServerRoot /etc/apache2
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
PidFile $D/httpd.pid
DefaultRuntimeDir $D/run
Mutex file:$D/run default
User www-data
Group www-data
ErrorLog $D/error.log
LogLevel warn auth_cas:$([ "${CAS_DEBUG:-Off}" = On ] && echo debug || echo warn)
LogFormat "%h %u \"%r\" %>s %b" short
CustomLog $D/access.log short
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authn_core_module $M/mod_authn_core.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule authz_user_module $M/mod_authz_user.so
LoadModule auth_cas_module $M/mod_auth_cas.so
LoadModule include_module $M/mod_include.so
LoadModule mime_module $M/mod_mime.so
LoadModule dir_module $M/mod_dir.so
TypesConfig /etc/mime.types
AddDefaultCharset utf-8
DocumentRoot $D/htdocs
DirectoryIndex index.html
<Directory />
  AllowOverride None
</Directory>
<Directory $D/htdocs>
  Require all granted
</Directory>

CASLoginURL $CAS_LOGIN_URL
CASValidateURL $CAS_VALIDATE_URL
CASVersion 2
CASValidateSAML Off
CASCookiePath $D/cas-cookies/
CASCertificatePath ${CAS_CA_FILE:-/etc/ssl/certs/}
CASDebug ${CAS_DEBUG:-Off}
CASAttributePrefix ${CAS_ATTR_PREFIX:-CAS-}
CASTimeout 600
# Single logout: the module takes the broker's POSTed logoutRequest and drops the session of that ticket.
CASSSOEnabled ${CAS_SSO_ENABLED:-On}
CASIdleTimeout 300
<Location /protected>
  AuthType CAS
  Require valid-user
  CASAuthNHeader CAS-User
  CASScrubRequestHeaders On
  Options +Includes
  AddOutputFilter INCLUDES .html
</Location>
CONF
apache2 -t -f "$D/httpd.conf" 2>&1 | grep -v "Syntax OK" >&2 || true
apache2 -f "$D/httpd.conf" -k start
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/" && [ -s "$D/httpd.pid" ] && break; sleep 0.1
done
curl -s -o /dev/null "http://127.0.0.1:$PORT/" || { echo "apache did not answer on 127.0.0.1:$PORT within 10 s; log: $D/error.log" >&2; tail -20 "$D/error.log" >&2; exit 1; }
echo "url=http://127.0.0.1:$PORT/protected/ whoami=http://127.0.0.1:$PORT/protected/whoami.html login_url=$CAS_LOGIN_URL validate_url=$CAS_VALIDATE_URL pid=$(cat "$D/httpd.pid") log=$D/error.log"
