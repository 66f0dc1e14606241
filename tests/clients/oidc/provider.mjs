// The OpenID Provider of certdeck's single sign-on tests: oidc-provider (a certified
// OpenID Provider) in development mode on http://127.0.0.1:<port>, with its built-in
// login form (any password) and accounts whose `groups` claim the test controls.
//
//   node provider.mjs <port> '<config JSON>'
//
// config: {"client_id", "client_secret", "redirect_uri", "accounts_file"}; the accounts
// file ({"alice": {"groups": ["certdeck-admins"]}, ...}) is read at every sign-in, so a
// test can take a user out of a group between two sign-ins. oidc-provider is installed
// by .ci/test into target/oidc-provider (CERTDECK_OIDC_PROVIDER_DIR).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [port, configJson] = process.argv.slice(2);
const config = JSON.parse(configJson);
const dir = process.env.CERTDECK_OIDC_PROVIDER_DIR;
const { default: Provider } = await import(
  pathToFileURL(join(dir, 'node_modules', 'oidc-provider', 'lib', 'index.js')).href
);

const accounts = () => JSON.parse(readFileSync(config.accounts_file, 'utf8'));

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: [config.redirect_uri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // The built-in login form: any login name, any password.
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  // No browser JavaScript talks to this provider.
  clientBasedCORS: () => false,
  cookies: { keys: ['certdeck-oidc-test-cookie-key'] },
  ttl: {
    AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600,
  },
  // The scope claims in the ID token itself (certdeck reads the groups there).
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name', 'groups'],
    email: ['email'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const account = accounts()[id] ?? {};
        return {
          sub: id,
          preferred_username: id,
          name: id,
          email: `${id}@example.com`,
          groups: account.groups ?? [],
        };
      },
    };
  },
  // First-party client: no consent screen, every requested scope granted.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email');
    await grant.save();
    return grant;
  },
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`oidc-provider listening on http://127.0.0.1:${port}`);
});
