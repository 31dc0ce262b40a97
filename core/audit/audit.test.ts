import t from 'tap';
import { backends, testDirectory } from '../../test/helpers/directory.js';
import { isPostgres } from '../store/knex.js';

for (const backend of backends) {
  t.test(`audit chain on ${backend}`, async (t) => {
    const { dir, ctx, org, close } = await testDirectory(backend);
    t.teardown(close);
    const alice = await dir.users.create(ctx, { username: 'alice', email: 'alice@example.com' });
    const g = await dir.groups.create(ctx, { name: 'ops' });
    await dir.groups.addMember(ctx, g.id, alice.id);
    await dir.users.update(ctx, alice.id, { loginShell: '/bin/zsh', email: 'a2@example.com' });

    t.test('every mutation wrote exactly one event, in order, with actor and diff', async (t) => {
      const events = await dir.audit.list({ orgId: org.id, limit: 100 });
      t.same(events.map((e) => e.eventType), ['org.created', 'admin.created', 'user.created', 'group.created', 'group.member_added', 'user.updated']);
      t.same(events.map((e) => e.seq), [1, 2, 3, 4, 5, 6], 'gap-free sequence');
      const upd = events[5]!;
      t.same(upd.changes, { loginShell: { from: '/bin/bash', to: '/bin/zsh' }, email: 'changed' }, 'personal data is recorded as changed, not copied');
      t.equal(upd.initiatedBy.username, 'test');
      t.equal(upd.resource?.name, 'alice');
    });

    t.test('the table is append-only for the application', async (t) => {
      await t.rejects(dir.store('audit_events').where({ seq: 3 }).update({ success: false }), /append-only/);
      await t.rejects(dir.store('audit_events').where({ seq: 3 }).delete(), /append-only/);
    });

    t.test('a failed change writes no event; a change never commits without its event', async (t) => {
      const before = (await dir.audit.verify()).checked;
      await t.rejects(dir.users.create(ctx, { username: 'alice' }), { code: 'conflict' });
      t.equal((await dir.audit.verify()).checked, before);
    });

    t.test('erasing a user keeps the chain and the pseudonymous id, not the person', async (t) => {
      await dir.users.delete(ctx, alice.id);
      const events = await dir.audit.list({ orgId: org.id, resourceId: alice.id, limit: 100 });
      t.ok(events.length >= 3);
      t.ok(events.every((e) => e.resource?.name === null && e.resource?.id === alice.id), 'no name left on any event about her');
      t.notMatch(JSON.stringify(events), /alice@example\.com|a2@example\.com/);
      t.ok((await dir.audit.verify()).ok);
    });

    t.test('tampering is detected', async (t) => {
      const pg = isPostgres(dir.store);
      const disable = pg ? 'ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only' : 'DROP TRIGGER audit_events_no_update';
      await dir.store.raw(disable);
      if (!pg) await dir.store.raw('DROP TRIGGER audit_events_no_delete');
      t.ok((await dir.audit.verify()).ok);
      await dir.store('audit_events').where({ seq: 4 }).update({ success: false });
      t.match(await dir.audit.verify(), { ok: false, brokenAt: 4, reason: 'event content altered' }, 'an altered row');
      await dir.store('audit_events').where({ seq: 4 }).update({ success: true });
      t.ok((await dir.audit.verify()).ok, 'restored');
      const last = (await dir.audit.list({ limit: 1, order: 'desc' }))[0]!;
      await dir.store('audit_events').where({ seq: last.seq }).delete();
      t.match(await dir.audit.verify(), { ok: false, reason: 'events after the last one were removed' }, 'a removed tail');
      await dir.store('audit_events').where({ seq: 2 }).delete();
      t.match(await dir.audit.verify(), { ok: false, brokenAt: 2, reason: 'missing event (gap in sequence)' }, 'a removed row');
    });
  });
}
