// SSO apps and the SSO store, on SQLite and (with CAIRN_TEST_PG_URL) PostgreSQL.
import t from 'tap';
import { backends, testDirectory } from '../test/helpers/directory.js';
import { hashToken } from './index.js';

for (const backend of backends) {
  t.test(backend, async (t) => {
    const { dir, org, ctx, close } = await testDirectory(backend);
    t.teardown(close);
    const staff = await dir.groups.create(ctx, { name: 'staff' });
    const ops = await dir.groups.create(ctx, { name: 'ops' });

    t.test('OIDC app: defaults, secret shown once and stored as a hash, grants', async (t) => {
      const { app, clientSecret } = await dir.sso.apps.create(ctx, {
        type: 'oidc', name: 'wiki', displayName: 'Wiki', groupIds: [staff.id],
        settings: { redirectUris: ['https://wiki.example.com/cb'] },
      });
      t.equal(app.type, 'oidc');
      if (app.type !== 'oidc') return;
      t.equal(app.settings.clientType, 'confidential');
      t.ok(clientSecret && clientSecret.length >= 40);
      t.equal(app.settings.clientSecretHash, hashToken(clientSecret!));
      t.notMatch(JSON.stringify(await dir.store('sso_apps').where({ id: app.id }).first()), clientSecret!, 'the secret is not stored');
      t.same(app.groupIds, [staff.id]);
      t.same((await dir.sso.apps.findByExternalId('oidc', app.settings.clientId))?.id, app.id);
      const updated = await dir.sso.apps.update(ctx, app.id, { groupIds: [ops.id], settings: { thirdParty: true } });
      t.same(updated.groupIds, [ops.id]);
      t.equal(updated.type === 'oidc' && updated.settings.thirdParty, true);
      t.equal(updated.type === 'oidc' && updated.settings.clientSecretHash, app.settings.clientSecretHash, 'update keeps the secret');
      const rotated = await dir.sso.apps.rotateClientSecret(ctx, app.id);
      t.not(rotated, clientSecret);
      t.same((await dir.sso.apps.assignedTo(org.id, [ops.id])).map((a) => a.id), [app.id]);
      t.same(await dir.sso.apps.assignedTo(org.id, [staff.id]), []);
      const events = await dir.audit.list({ orgId: org.id, resourceId: app.id, limit: 10 });
      t.same(events.map((e) => e.eventType), ['sso_app.created', 'sso_app.updated', 'sso_app.secret_rotated']);
      t.notMatch(JSON.stringify(events), rotated, 'no secret in the audit trail');
      await dir.sso.apps.delete(ctx, app.id);
      await t.rejects(dir.sso.apps.get(org.id, app.id), { code: 'not_found' });
      t.same(await dir.grants.groupsOf(org.id, { type: 'sso_app', id: app.id }), []);
    });

    t.test('validation', async (t) => {
      const bad = (settings: Record<string, unknown>, field: string, type: 'oidc' | 'saml' = 'oidc') =>
        t.rejects(dir.sso.apps.create(ctx, { type, name: `x${Math.random().toString(36).slice(2, 8)}`, settings }), { code: 'invalid_input', field }, field);
      await bad({ redirectUris: ['http://evil.example.com/cb'] }, 'settings.redirectUris.0');
      await bad({ redirectUris: ['https://a.example.com/cb#frag'] }, 'settings.redirectUris.0');
      await bad({ redirectUris: [] }, 'settings.redirectUris');
      await bad({ redirectUris: ['https://a.example.com/cb'], clientType: 'public', clientCredentials: true }, 'settings.clientCredentials');
      await bad({ redirectUris: ['https://a.example.com/cb'], scopes: ['openid', 'admin'] }, 'settings.scopes');
      await bad({ redirectUris: ['https://a.example.com/cb'], secret: 'x' }, 'settings.secret');
      await bad({ entityId: 'urn:x', acsUrls: ['https://sp.example.com/acs'], wantRequestsSigned: true }, 'settings.wantRequestsSigned', 'saml');
      await bad({ entityId: 'urn:x', acsUrls: ['https://sp.example.com/acs'], certificate: 'not a cert' }, 'settings.certificate', 'saml');
      await bad({ entityId: 'urn:x', acsUrls: ['https://sp.example.com/acs'], attributes: { 'a b': 'email' } }, 'settings.attributes', 'saml');
      await bad({ entityId: 'urn:x', acsUrls: ['https://sp.example.com/acs'], attributes: { mail: 'password' } }, 'settings.attributes.mail', 'saml');
      await t.rejects(dir.sso.apps.create(ctx, { type: 'oidc', name: 'Bad Name', settings: { redirectUris: ['https://a.example.com/cb'] } }), { code: 'invalid_input', field: 'name' });
      const { app: pub, clientSecret } = await dir.sso.apps.create(ctx, { type: 'oidc', name: 'spa', settings: { clientType: 'public', redirectUris: ['http://127.0.0.1:8080/cb', 'com.example.app:/cb'] } });
      t.equal(clientSecret, undefined, 'public clients have no secret');
      t.equal(pub.type === 'oidc' && pub.settings.clientSecretHash, null);
      await t.rejects(dir.sso.apps.create(ctx, { type: 'oidc', name: 'spa', settings: { redirectUris: ['https://a.example.com/cb'] } }), { code: 'conflict' });
      const saml = { entityId: 'https://sp.example.com/md', acsUrls: ['https://sp.example.com/acs'] };
      await dir.sso.apps.create(ctx, { type: 'saml', name: 'sp1', settings: saml });
      await t.rejects(dir.sso.apps.create(ctx, { type: 'saml', name: 'sp2', settings: saml }), { code: 'conflict', field: 'settings.entityId' });
    });

    t.test('store: of 20 parallel consumes exactly one wins', async (t) => {
      await dir.sso.store.upsert('AuthorizationCode', 'code1', { grantId: 'g1', accountId: 'u1', clientId: 'c1' }, 60);
      const results = await Promise.all(Array.from({ length: 20 }, () => dir.sso.store.consume('AuthorizationCode', 'code1')));
      t.equal(results.filter(Boolean).length, 1);
      t.ok((await dir.sso.store.find('AuthorizationCode', 'code1'))?.consumedAt);
    });

    t.test('store: writes issued together each get their own outcome', async (t) => {
      // On SQLite they share one transaction (group commit); on PostgreSQL they run in parallel.
      const store = dir.sso.store;
      await store.upsert('RefreshToken', 'gc1', { grantId: 'gc', accountId: 'u9', clientId: 'c1' }, 60);
      const [first, second, broken, other] = await Promise.allSettled([
        store.consume('RefreshToken', 'gc1'),
        store.consume('RefreshToken', 'gc1'),
        store.upsert(null as unknown as string, 'gc2', {}, 60),
        store.upsert('AccessToken', 'gc3', { grantId: 'gc' }, 60),
      ]);
      const won = [first, second].map((r) => r.status === 'fulfilled' && r.value);
      t.same(won.sort(), [false, true], 'one consume wins, the other loses');
      t.equal(broken.status, 'rejected', 'a failing write fails alone');
      t.equal(other.status, 'fulfilled');
      t.ok((await store.find('RefreshToken', 'gc1'))?.consumedAt);
      t.ok(await store.find('AccessToken', 'gc3'), 'the writes around the failure are durable');
    });

    t.test('store: expiry, revoke by grant, destroy by account, purge', async (t) => {
      await dir.sso.store.upsert('Grant', 'g2', { accountId: 'u2', clientId: 'c1' }, 60);
      await dir.sso.store.upsert('AccessToken', 'at2', { grantId: 'g2', accountId: 'u2', clientId: 'c1' }, 60);
      await dir.sso.store.upsert('RefreshToken', 'rt2', { grantId: 'g2', accountId: 'u2', clientId: 'c1' }, 60);
      await dir.sso.store.upsert('Session', 's3', { accountId: 'u3', uid: 'uid3' }, 60);
      await dir.sso.store.upsert('Interaction', 'i4', { uid: 'uid4' }, -1);
      t.equal((await dir.sso.store.findByUid('Session', 'uid3'))?.payload.accountId, 'u3');
      t.equal(await dir.sso.store.find('Interaction', 'i4'), undefined, 'expired rows are not returned');
      await dir.sso.store.revokeByGrantId('g2');
      t.equal(await dir.sso.store.find('Grant', 'g2'), undefined, 'the grant itself goes');
      t.equal(await dir.sso.store.find('RefreshToken', 'rt2'), undefined);
      t.equal(await dir.sso.store.destroyByAccount('u3'), 1);
      for (const [model, id] of [['Session', 's4'], ['CairnSession', 'c4'], ['CairnSession', 'keep4']]) await dir.sso.store.upsert(model!, id!, {}, 60, 'u4');
      t.equal(await dir.sso.store.destroyByAccount('u4', [{ model: 'CairnSession', id: 'keep4' }]), 2, 'all but the spared row');
      t.ok(await dir.sso.store.find('CairnSession', 'keep4'));
      await dir.sso.store.upsert('Interaction', 'i5', { uid: 'uid5' }, -1);
      t.ok((await dir.sso.store.purgeExpired()) >= 1);
      t.equal((await dir.store('sso_store').where('expires_at', '<', Date.now())).length, 0);
    });

    t.test('SAML request ids: a replay is refused', async (t) => {
      const { app } = await dir.sso.apps.create(ctx, { type: 'saml', name: 'sp9', settings: { entityId: 'urn:sp9', acsUrls: ['https://sp9.example.com/acs'] } });
      t.equal(await dir.sso.store.rememberSamlRequest(app.id, '_r1', Date.now() + 60_000), true);
      t.equal(await dir.sso.store.rememberSamlRequest(app.id, '_r1', Date.now() + 60_000), false);
      const parallel = await Promise.all(Array.from({ length: 10 }, () => dir.sso.store.rememberSamlRequest(app.id, '_r2', Date.now() + 60_000)));
      t.equal(parallel.filter(Boolean).length, 1);
    });
  });
}
