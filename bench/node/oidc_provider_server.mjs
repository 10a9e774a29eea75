// The peer of the token-endpoint benchmark: node oidc-provider v9 with a minimal configuration, JWT access
// tokens signed with BENCH_ALG (ES256 or RS256) and one of two stores:
//   memory    a Map (oidc-provider's default is an LRU of 1000 entries, too small for the codes minted ahead);
//   postgres  durable, as in production: one table, one statement per call of oidc-provider's documented adapter
//             interface (upsert, find, findByUid, findByUserCode, consume, destroy, revokeByGrantId), named
//             (server-side prepared) statements over a pool of node-postgres connections, each autocommitted.
//   node oidc_provider_server.mjs PORT ALG MINT_COUNT OUT_DIR [memory|postgres] [POSTGRES_URL]
// Mints MINT_COUNT authorization codes and refresh tokens before listening, writes them one per line to
// OUT_DIR/codes.txt and OUT_DIR/refresh.txt, then prints "listening".
import { generateKeyPairSync, createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';
import pg from 'pg';

const [port, alg, mintCount, outDir, storeKind = 'memory', pgUrl] = process.argv.slice(2);
const ISSUER = `http://127.0.0.1:${port}`;
const REDIRECT = 'http://127.0.0.1:9999/cb';
const VERIFIER = 'bench-verifier-0123456789-0123456789-0123456789-abcdef';
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');

const store = new Map();
class MapAdapter {
  constructor(name) { this.name = name; }
  key(id) { return `${this.name}:${id}`; }
  async upsert(id, payload) { store.set(this.key(id), payload); }
  async find(id) { return store.get(this.key(id)); }
  async findByUid(uid) { for (const v of store.values()) if (v.uid === uid) return v; return undefined; }
  async findByUserCode() { return undefined; }
  async consume(id) { const p = store.get(this.key(id)); if (p) p.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) { for (const [k, v] of store) if (v.grantId === grantId) store.delete(k); }
}

const pool = storeKind === 'postgres' ? new pg.Pool({ connectionString: pgUrl, max: 16 }) : null;
const q = (name, text, values) => pool.query({ name, text, values });
class PostgresAdapter {
  constructor(name) { this.type = name; }
  async upsert(id, payload, expiresIn) {
    await q('upsert', `INSERT INTO oidc_payloads (id, type, payload, grant_id, user_code, uid, expires_at)
      VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
      ON CONFLICT (id, type) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
        user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`,
    [id, this.type, payload, payload.grantId ?? null, payload.userCode ?? null, payload.uid ?? null,
      expiresIn ?? 315360000]);
  }
  async #one(name, where, value) {
    const { rows } = await q(name, `SELECT payload, consumed_at FROM oidc_payloads
      WHERE ${where} = $1 AND type = $2 AND expires_at > now()`, [value, this.type]);
    if (!rows.length) return undefined;
    return rows[0].consumed_at ? { ...rows[0].payload, consumed: true } : rows[0].payload;
  }
  async find(id) { return this.#one('find', 'id', id); }
  async findByUid(uid) { return this.#one('findByUid', 'uid', uid); }
  async findByUserCode(userCode) { return this.#one('findByUserCode', 'user_code', userCode); }
  async consume(id) {
    await q('consume', 'UPDATE oidc_payloads SET consumed_at = now() WHERE id = $1 AND type = $2', [id, this.type]);
  }
  async destroy(id) { await q('destroy', 'DELETE FROM oidc_payloads WHERE id = $1 AND type = $2', [id, this.type]); }
  async revokeByGrantId(grantId) { await q('revoke', 'DELETE FROM oidc_payloads WHERE grant_id = $1', [grantId]); }
}
if (pool) {
  await pool.query(`DROP TABLE IF EXISTS oidc_payloads`);
  await pool.query(`CREATE TABLE oidc_payloads (id text NOT NULL, type text NOT NULL, payload jsonb NOT NULL,
    grant_id text, user_code text, uid text, expires_at timestamptz NOT NULL, consumed_at timestamptz,
    PRIMARY KEY (id, type))`);
  for (const column of ['grant_id', 'user_code', 'uid']) {
    await pool.query(`CREATE INDEX ON oidc_payloads (${column})`);
  }
}

const key = alg === 'RS256'
  ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const jwk = { ...key.export({ format: 'jwk' }), alg, use: 'sig', kid: 'bench' };
const RESOURCE = 'urn:sso-broker:bench';

const provider = new Provider(ISSUER, {
  adapter: pool ? PostgresAdapter : MapAdapter,
  jwks: { keys: [jwk] },
  clients: [{
    client_id: 'bench', client_secret: 'bench-secret', redirect_uris: [REDIRECT], response_types: ['code'],
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'], scope: 'openid offline_access api',
    id_token_signed_response_alg: alg,
  }],
  scopes: ['openid', 'offline_access', 'api'],
  pkce: { required: () => true },
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'api', accessTokenFormat: 'jwt', jwt: { sign: { alg } } }),
    },
  },
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  rotateRefreshToken: true,
  // Codes live 600 s as ours do (bench/token_endpoint.py): minted before the clock starts, they wait while the
  // other servers are started and measured (oidc-provider's default is 60 s).
  ttl: { AuthorizationCode: 600 },
});

const client = await provider.Client.find('bench');
const codes = []; const refresh = [];
const now = Math.floor(Date.now() / 1000);
async function mintOne() {
  const grant = new provider.Grant({ accountId: 'hieund', clientId: 'bench' });
  grant.addOIDCScope('openid offline_access');
  grant.addResourceScope(RESOURCE, 'api');
  const grantId = await grant.save();
  const code = new provider.AuthorizationCode({
    accountId: 'hieund', grantId, client, scope: 'openid offline_access api', resource: RESOURCE,
    redirectUri: REDIRECT, codeChallenge: CHALLENGE, codeChallengeMethod: 'S256', authTime: now,
  });
  const token = new provider.RefreshToken({
    accountId: 'hieund', grantId, client, scope: 'openid offline_access api', resource: RESOURCE,
    gty: 'authorization_code', authTime: now, iiat: now, rotations: 0,
  });
  codes.push(await code.save());
  refresh.push(await token.save());
}
for (let i = 0; i < Number(mintCount); i += 64) {
  await Promise.all(Array.from({ length: Math.min(64, Number(mintCount) - i) }, mintOne));
}
writeFileSync(`${outDir}/codes.txt`, codes.join('\n') + '\n');
writeFileSync(`${outDir}/refresh.txt`, refresh.join('\n') + '\n');
provider.listen(Number(port), '127.0.0.1', () => console.log('listening'));
