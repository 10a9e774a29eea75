// An upstream OpenID provider for the tests of "log in with VNeID": node oidc-provider v9 with its own login
// form, releasing the claims a national e-ID provider would (a personal identification number, name, date of
// birth) and an acr of LoA1 or LoA2 chosen by the account. Back-channel and RP-initiated logout are on.
// The national VNeID specification is not public: this is a real OpenID provider configured as one, not VNeID.
//   node upstream_op.mjs CONFIG.json   (port, issuer, clients, accounts; prints "listening")
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts; // login -> { password, acr, amr, claims }
const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const jwk = { ...key.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'upstream-1' };

const provider = new Provider(config.issuer, {
  jwks: { keys: [jwk] },
  clients: config.clients,
  claims: { openid: ['sub', 'sid'], profile: ['name', 'birthdate', 'personal_identification_number', 'email'] },
  acrValues: ['LoA1', 'LoA2'],
  scopes: ['openid', 'profile'],
  pkce: { required: () => true },
  cookies: { keys: ['upstream-test-cookie-key'] },
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // The provider refuses to call special-use addresses (SSRF protection); the test's broker is on loopback.
  fetch: (url, options) => { const { dispatcher, ...rest } = options; return globalThis.fetch(url, rest); },
  findAccount: async (ctx, id) => (accounts[id] ? {
    accountId: id, claims: async () => ({ sub: id, ...accounts[id].claims }),
  } : undefined),
});
provider.proxy = false;
provider.on('backchannel.error', (ctx, err, client) => console.error(`backchannel.error ${client.clientId}: ${err}`));
provider.on('backchannel.success', (ctx, client) => console.error(`backchannel.success ${client.clientId}`));

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><body>${body}</body></html>`);
}

async function form(req) {
  let data = '';
  for await (const chunk of req) data += chunk;
  return Object.fromEntries(new URLSearchParams(data));
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;
  if (req.method === 'GET' && prompt.name === 'login') {
    return page(res, 200, `<h1>Upstream login</h1><form method="post" action="/interaction/${uid}/login">
      <input name="login"><input name="password" type="password"><button>Sign in</button></form>`);
  }
  if (req.method === 'POST' && req.url.endsWith('/login')) {
    const { login, password } = await form(req);
    const account = accounts[login];
    if (!account || account.password !== password) return page(res, 401, '<p id="error">wrong password</p>');
    return provider.interactionFinished(req, res, {
      login: { accountId: login, acr: account.acr, amr: account.amr },
    }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'consent') { // the province's own provider: consent is implied
    const grant = details.grantId ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    grant.addOIDCScope(String(params.scope));
    grant.addOIDCClaims(['name', 'birthdate', 'personal_identification_number', 'email']);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return page(res, 400, `<p>unexpected prompt ${prompt.name}</p>`);
}

const handler = provider.callback();
http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => page(res, 500, `<pre>${String(err)}</pre>`));
  } else {
    handler(req, res);
  }
}).listen(config.port, '127.0.0.1', () => console.log('listening'));
