import t from 'tap';
import { ApiKeys, postureReport } from './index.js';
import { backends, testDirectory } from '../test/helpers/directory.js';

for (const backend of backends) {
  t.test(`posture checks on ${backend}`, async (t) => {
    const { dir, org, ctx, close } = await testDirectory(backend, { api: { webhook: { url: 'https://siem.example/hook', secret: 's' } } });
    t.teardown(close);
    const status = async () => Object.fromEntries((await postureReport(dir, org.id)).checks.map((c) => [c.id, c.status]));
    let s = await status();
    t.equal(s.admin_mfa_required, 'pass', 'admin MFA is on by default');
    t.equal(s.admins_enrolled_mfa, 'fail', 'the bootstrap admin has not enrolled yet');
    t.equal(s.radius_mfa_required, 'fail');
    t.equal(s.lockout_enabled, 'pass');
    t.equal(s.audit_export_configured, 'pass');
    t.equal(s.api_keys_ip_restricted, 'pass', 'no keys: nothing unrestricted');
    const [admin] = await dir.admins.list(org.id);
    const actx = { ...ctx, actor: { type: 'admin' as const, id: admin!.id, name: admin!.username } };
    await new ApiKeys(dir.deps).create(actx, { name: 'open', role: 'read_only' }, 'administrator');
    await new ApiKeys(dir.deps).create(actx, { name: 'long', role: 'read_only', expiresInDays: 300, allowedCidrs: ['10.0.0.0/8'] }, 'administrator');
    for (let i = 0; i < 3; i++) await dir.admins.create(ctx, { username: `root${i}`, role: 'administrator', password: 'Admin-password-123' });
    await dir.policies.setMfaModes(ctx, { admin: 'off', radius: 'required' });
    await dir.policies.setPasswordPolicy(ctx, { lockoutThreshold: 0 });
    s = await status();
    t.equal(s.api_keys_ip_restricted, 'fail');
    t.equal(s.api_keys_expire, 'fail', 'a 300-day key is flagged');
    t.equal(s.administrator_count, 'fail', 'four Administrators');
    t.equal(s.admin_mfa_required, 'fail');
    t.equal(s.radius_mfa_required, 'pass');
    t.equal(s.lockout_enabled, 'fail');
    const report = await postureReport(dir, org.id);
    for (const c of report.checks) {
      t.ok(c.why && c.finding && c.title, `${c.id} explains itself`);
      t.ok(c.frameworks.cis.length && c.frameworks.nist80053.length && c.frameworks.hipaa.length && c.frameworks.gdpr.length, `${c.id} names CIS, NIST, HIPAA, GDPR controls`);
    }
    t.equal(report.passed + report.failed, report.checks.length);
  });
}
