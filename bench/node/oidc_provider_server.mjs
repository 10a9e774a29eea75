// The peer of the token-endpoint benchmark: node oidc-provider v9 with a minimal configuration, JWT access
// tokens signed with BENCH_ALG (ES256 or RS256) and an in-memory store (oidc-provider's default is an LRU of
// 1000 entries, too small to hold the codes minted in advance).
//   node oidc_provider_server.mjs PORT ALG MINT_COUNT OUT_DIR
// Mints MINT_COUNT authorization codes and refresh tokens before listening, writes them one per line to
// OUT_DIR/codes.txt and OUT_DIR/refresh.txt, then prints "listening".
import { generateKeyPairSync, createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const [port, alg, mintCount, outDir] = process.argv.slice(2);
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

const key = alg === 'RS256'
  ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const jwk = { ...key.export({ format: 'jwk' }), alg, use: 'sig', kid: 'bench' };
const RESOURCE = 'urn:sso-broker:bench';

const provider = new Provider(ISSUER, {
  adapter: MapAdapter,
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
});

const client = await provider.Client.find('bench');
const codes = []; const refresh = [];
const now = Math.floor(Date.now() / 1000);
for (let i = 0; i < Number(mintCount); i++) {
  const grant = new provider.Grant({ accountId: 'hieund', clientId: 'bench' });
  grant.addOIDCScope('openid offline_access');
  grant.addResourceScope(RESOURCE, 'api');
  const grantId = await grant.save();
  const code = new provider.AuthorizationCode({
    accountId: 'hieund', grantId, client, scope: 'openid offline_access api', resource: RESOURCE,
    redirectUri: REDIRECT, codeChallenge: CHALLENGE, codeChallengeMethod: 'S256', authTime: now,
  });
  codes.push(await code.save());
  const token = new provider.RefreshToken({
    accountId: 'hieund', grantId, client, scope: 'openid offline_access api', resource: RESOURCE,
    gty: 'authorization_code', authTime: now, iiat: now, rotations: 0,
  });
  refresh.push(await token.save());
}
writeFileSync(`${outDir}/codes.txt`, codes.join('\n') + '\n');
writeFileSync(`${outDir}/refresh.txt`, refresh.join('\n') + '\n');
provider.listen(Number(port), '127.0.0.1', () => console.log('listening'));
