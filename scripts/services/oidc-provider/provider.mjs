// The OpenID provider Palisade's tests run against: npm `oidc-provider`
// (panva, OpenID Certified) on 127.0.0.1, started by ../oidc.sh.
//
// - Client-credentials grant; JWT access tokens (RFC 9068, `typ: at+jwt`)
//   with a `groups` claim taken from the client's `groups` below.
// - Resource indicators choose the audience and the signing algorithm:
//     urn:palisade        (default) aud urn:palisade, RS256
//     urn:palisade:es256  aud urn:palisade, ES256
//     urn:other           aud urn:other, RS256
// - Clients (secret: $OIDC_CLIENT_SECRET for all): svc-alice (groups admins,
//   readers), svc-bob (readers), svc-short (readers; tokens live 1 s).
//
// Test hooks (loopback only, never part of a real provider):
//   POST /test/rotate[?retire=1]  new RSA and EC signing keys (the previous
//       ones stay published unless retire=1); answers {"kids": [...]}.
//   POST /test/sign {"alg","header","claims"}  signs arbitrary claims with the
//       current key of that algorithm (tokens a provider would never issue:
//       future nbf/iat, other issuers, ID tokens); answers {"token"}.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const secret = process.env.OIDC_CLIENT_SECRET;
const issuer = `http://127.0.0.1:${port}`;
if (!port || !secret) {
  console.error('OIDC_PORT and OIDC_CLIENT_SECRET are required');
  process.exit(2);
}

const groups = { 'svc-alice': ['admins', 'readers'], 'svc-bob': ['readers'], 'svc-short': ['readers'] };
const resources = {
  'urn:palisade': { audience: 'urn:palisade', alg: 'RS256' },
  'urn:palisade:es256': { audience: 'urn:palisade', alg: 'ES256' },
  'urn:other': { audience: 'urn:other', alg: 'RS256' },
};

function newKeys() {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  rsa.kid = `rsa-${crypto.randomBytes(6).toString('hex')}`;
  rsa.alg = 'RS256';
  rsa.use = 'sig';
  ec.kid = `ec-${crypto.randomBytes(6).toString('hex')}`;
  ec.alg = 'ES256';
  ec.use = 'sig';
  return [rsa, ec];
}

function build(keys) {
  const provider = new Provider(issuer, {
    clients: Object.keys(groups).map((client_id) => ({
      client_id,
      client_secret: secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    })),
    jwks: { keys },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:palisade',
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          const r = resources[indicator];
          if (!r) throw new Error(`unknown resource ${indicator}`);
          return { scope: 'api', audience: r.audience, accessTokenFormat: 'jwt', accessTokenTTL: 600, jwt: { sign: { alg: r.alg } } };
        },
      },
    },
    ttl: {
      ClientCredentials: (ctx, token, client) => (client.clientId === 'svc-short' ? 1 : 600),
    },
    extraTokenClaims: (ctx, token) => {
      const g = groups[token.clientId];
      return g ? { groups: g } : undefined;
    },
  });
  provider.proxy = false;
  return { provider, callback: provider.callback(), keys };
}

let current = build(newKeys());

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

function sign(alg, header, claims) {
  const jwk = current.keys.find((k) => k.alg === alg);
  if (!jwk) throw new Error(`no ${alg} key`);
  const h = { alg, kid: jwk.kid, ...header };
  const input = `${b64url(JSON.stringify(h))}.${b64url(JSON.stringify(claims))}`;
  const key = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  const sig = alg === 'ES256'
    ? crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
    : crypto.sign('sha256', Buffer.from(input), key);
  return `${input}.${b64url(sig)}`;
}

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function testHook(req, res, url) {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    try {
      if (req.method === 'POST' && url.pathname === '/test/rotate') {
        const previous = url.searchParams.get('retire') === '1'
          ? [] : current.keys.slice(0, 2);
        current = build([...newKeys(), ...previous]);
        return reply(res, 200, { kids: current.keys.map((k) => k.kid) });
      }
      if (req.method === 'POST' && url.pathname === '/test/sign') {
        const { alg = 'RS256', header = {}, claims = {} } = JSON.parse(body || '{}');
        return reply(res, 200, { token: sign(alg, header, claims) });
      }
      return reply(res, 404, { error: 'no such test hook' });
    } catch (e) {
      return reply(res, 400, { error: String(e.message || e) });
    }
  });
}

http.createServer((req, res) => {
  const url = new URL(req.url, issuer);
  if (url.pathname.startsWith('/test/')) return testHook(req, res, url);
  return current.callback(req, res);
}).listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
