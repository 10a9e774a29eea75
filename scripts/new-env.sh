#!/usr/bin/env bash
# First time with docker-compose: writes .env from .env.example with fresh secrets (master key, database and
# directory passwords). Needs only bash and openssl, no broker image yet. Refuses to overwrite an existing .env.
#   ./scripts/new-env.sh [https://sso.your-province.gov.vn]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${ENV_FILE:-.env}
[ -e "$OUT" ] && { echo "error: $OUT exists; remove it first (its master key opens every sealed secret)" >&2; exit 2; }
secret() { openssl rand -base64 "$1" | tr '+/' '-_' | tr -d '=\n'; }
ISSUER=${1:-https://sso.example.gov.vn}
sed -e "s|^SSO_MASTER_KEY=.*|SSO_MASTER_KEY=$(secret 32)|" \
    -e "s|^POSTGRES_PASSWORD=.*|POSTGRES_PASSWORD=$(secret 24)|" \
    -e "s|^LDAP_ADMIN_PASSWORD=.*|LDAP_ADMIN_PASSWORD=$(secret 24)|" \
    -e "s|^SSO_ISSUER=.*|SSO_ISSUER=$ISSUER|" .env.example > "$OUT"
chmod 600 "$OUT"
echo "$OUT written with fresh secrets; keep a copy of SSO_MASTER_KEY with your backups. Next: docker-compose up -d"
