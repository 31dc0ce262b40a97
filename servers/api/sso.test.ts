// SSO apps through the API, proven with a real relying party (openid-client): a confidential
// client's secret is shown once at creation and at rotation and works at the token endpoint;
// the old one stops; nothing shows it (or its hash) again. SAML SPs register from metadata XML.
import * as client from 'openid-client';
import t from 'tap';
import { backends } from '../../test/helpers/directory.js';
import { startApi } from '../../test/helpers/api.js';
import { caFetch, freePort } from '../sso/testkit.js';
import { readFileSync } from 'node:fs';

const P = '/api/v1';
const SP = 'https://wiki.example.com/saml';
const metadata = (doctype = '') => `${doctype}<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${SP}">
  <SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${SP}/acs" index="0"/>
  </SPSSODescriptor>
</EntityDescriptor>`;

for (const backend of backends) {
  t.test(`SSO apps over the API, with openid-client, on ${backend}`, async (t) => {
    const port = await freePort();
    const base = `https://127.0.0.1:${port}`;
    const h = await startApi(backend, { api: { port }, sso: { issuer: base } }, ['api', 'sso']);
    t.teardown(h.stop);
    const A = h.admin.token;
    const call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      h.c.call(method, P + path, { token: A, ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) });
    const fetchCa = caFetch(readFileSync(h.s.caFile, 'utf8'));
    const staff = (await call('POST', '/groups', { name: 'staff' })).json;

    const created = await call('POST', '/sso-apps', {
      type: 'oidc', name: 'reports', displayName: 'Reports', groupIds: [staff.id],
      settings: { clientType: 'confidential', redirectUris: ['https://reports.example.com/cb'], clientCredentials: true },
    });
    t.equal(created.status, 201, created.status === 201 ? 'oidc app created' : created.text);
    t.equal(created.headers['cache-control'], 'no-store');
    const app = created.json.app;
    const first = created.json.clientSecret as string;
    t.ok(first, 'the client secret is shown at creation');
    t.same([app.groupIds, app.settings.hasClientSecret, app.settings.scopes.includes('openid')], [[staff.id], true, true]);
    for (const path of [`/sso-apps/${app.id}`, '/sso-apps']) {
      const r = await call('GET', path);
      t.equal(r.status, 200);
      t.notOk(r.text.includes(first) || r.text.includes('clientSecretHash'), `${path}: neither the secret nor its hash`);
    }

    // openid-client, the way an integration would use it.
    const clientId = app.settings.clientId as string;
    const rp = async (secret: string) => {
      const config = await client.discovery(new URL(`${base}/oidc`), clientId, secret, client.ClientSecretBasic(secret), { [client.customFetch]: fetchCa as never } as client.DiscoveryRequestOptions);
      config[client.customFetch] = fetchCa as never;
      return config;
    };
    const tokenWith = (secret: string) => fetchCa(`${base}/oidc/token`, {
      method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` }, body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    t.ok((await client.clientCredentialsGrant(await rp(first))).access_token, 'the secret from the create response works');

    const rotated = await call('POST', `/sso-apps/${app.id}/client-secret`);
    t.same([rotated.status, rotated.headers['cache-control']], [200, 'no-store']);
    const second = rotated.json.clientSecret as string;
    t.not(second, first);
    t.ok((await client.clientCredentialsGrant(await rp(second))).access_token, 'the rotated secret works');
    t.equal((await tokenWith(first)).status, 401, 'the old secret stopped at once');

    // PATCH: If-Match, settings merged, groups replaced; read-only and foreign settings refused by name.
    const etag = String((await call('GET', `/sso-apps/${app.id}`)).headers.etag);
    const patched = await call('PATCH', `/sso-apps/${app.id}`, { displayName: 'Monthly reports', groupIds: [], settings: { thirdParty: true } }, { 'if-match': etag });
    t.same([patched.status, patched.json.displayName, patched.json.groupIds, patched.json.settings.thirdParty, patched.json.settings.clientCredentials], [200, 'Monthly reports', [], true, true]);
    t.equal((await call('PATCH', `/sso-apps/${app.id}`, { displayName: 'Lost' }, { 'if-match': etag })).status, 412);
    const hash = await call('PATCH', `/sso-apps/${app.id}`, { settings: { clientSecretHash: 'x' } });
    t.same([hash.status, hash.json.field], [400, 'settings.clientSecretHash'], 'the secret hash cannot be written');
    const foreign = await call('PATCH', `/sso-apps/${app.id}`, { settings: { entityId: SP } });
    t.same([foreign.status, foreign.json.field], [400, 'settings.entityId'], 'SAML settings on an OIDC app');
    t.equal((await call('PATCH', `/sso-apps/${app.id}`, { settings: { clientId: 'other' } })).json.field, 'settings.clientId', 'client id cannot change');

    // A public client has no secret, so none to rotate.
    const spa = await call('POST', '/sso-apps', { type: 'oidc', name: 'spa', settings: { clientType: 'public', redirectUris: ['https://spa.example.com/cb'] } });
    t.same([spa.status, spa.json.clientSecret, spa.json.app.settings.hasClientSecret], [201, undefined, false]);
    t.equal((await call('POST', `/sso-apps/${spa.json.app.id}/client-secret`)).status, 400);

    // SAML from the SP's metadata; explicit settings win over what the metadata says.
    const saml = await call('POST', '/sso-apps', { type: 'saml', name: 'wiki', groupIds: [staff.id], settings: { metadataXml: metadata(), nameIdFormat: 'persistent' } });
    t.equal(saml.status, 201, saml.status === 201 ? 'saml app created from metadata' : saml.text);
    t.same([saml.json.app.settings.entityId, saml.json.app.settings.acsUrls, saml.json.app.settings.nameIdFormat, saml.json.clientSecret], [SP, [`${SP}/acs`], 'persistent', undefined]);
    t.equal((await h.s.dir.sso.apps.findByExternalId('saml', SP))?.id, saml.json.app.id, 'the IdP finds the SP by its entity id');
    const evil = await call('POST', '/sso-apps', { type: 'saml', name: 'evil', settings: { metadataXml: metadata('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>') } });
    t.same([evil.status, evil.json.field], [400, 'settings.metadataXml'], 'DOCTYPE refused');
    t.same((await call('POST', '/sso-apps', { type: 'saml', name: 'bad', settings: { entityId: 'x', acsUrls: ['http://evil.example.com/acs'] } })).json.field, 'settings.acsUrls.0');
    const moved = await call('PATCH', `/sso-apps/${saml.json.app.id}`, { settings: { metadataXml: metadata().replaceAll(SP, 'https://wiki2.example.com/saml') } });
    t.same([moved.status, moved.json.settings.entityId], [200, 'https://wiki2.example.com/saml'], 're-registered from new metadata');

    // Delete: the client can no longer get tokens.
    t.equal((await call('DELETE', `/sso-apps/${app.id}`)).status, 204);
    t.equal((await call('GET', `/sso-apps/${app.id}`)).status, 404);
    t.equal((await tokenWith(second)).status, 401, 'a deleted client gets no token');
    const events = await call('GET', '/events?limit=200');
    t.notOk(events.text.includes(first) || events.text.includes(second), 'no client secret in the audit trail');
  });
}
