// A development OpenID provider for docker-compose (npm oidc-provider): one client-credentials
// client `palisade-dev` whose RS256 JWT access tokens carry audience `palisade` and a `groups` claim.
//   curl -u palisade-dev:palisade-dev-secret -d grant_type=client_credentials http://127.0.0.1:9090/token
import Provider from 'oidc-provider';

const issuer = process.env.OIDC_ISSUER;
const port = Number(process.env.OIDC_PORT);
const secret = process.env.OIDC_CLIENT_SECRET;
if (!issuer || !port || !secret) {
  console.error('OIDC_ISSUER, OIDC_PORT and OIDC_CLIENT_SECRET are required');
  process.exit(2);
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'palisade-dev',
    client_secret: secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
  }],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'palisade',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api', audience: 'palisade', accessTokenFormat: 'jwt', accessTokenTTL: 600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: () => ({ groups: ['developers'] }),
});
provider.listen(port, '0.0.0.0', () => console.log(`oidc-provider listening on ${issuer}`));
