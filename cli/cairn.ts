#!/usr/bin/env node
// `cairn`: the server and a thin CLI over the core. Every change it makes is audited with the
// operating-system user who ran it.
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config/load.js';
import {
  bootstrap, createLogger, eventToJson, ApiKeys, HostAgents, isCairnError, openDirectory, postureReport, scrubError, systemContext, type Directory, type Group, type Logger,
  type Org, type User,
} from '../core/index.js';

const HELP = `cairn — directory and identity server

Usage: cairn [--config FILE] <command> [options]

Server:
  serve [--only ldap,radius,sso,api]   start the services (all enabled ones by default)
  migrate                               create or upgrade the database schema

Users:
  user add <username> [--name N] [--email E] [--shell S] [--home H] [--password-stdin] [--must-change] [--staged]
  user list [--json]
  user show <username> [--json]
  user passwd <username> [--password-stdin] [--must-change]
  user suspend <username>     user reactivate <username>     user unlock <username>
  user delete <username>      (erases personal data; the audit trail keeps a pseudonymous id)

Groups:
  group add <name> [--description D]
  group list [--json]
  group add-member <group> <username>     group remove-member <group> <username>

Single sign-on:
  sso rotate-keys              new OIDC signing key; the old ones stay published for a day
  sso rotate-saml-key [--overlap-hours N]
                               new SAML signing certificate: in the metadata at once, signing after N hours (168)
  sso apps [--json]            list the SSO apps (OIDC clients, SAML service providers)

Audit trail:
  audit tail [-n N] [--follow] [--json]
  audit verify                 check the hash chain; exit 1 if it is broken

Admins (recovery from the server's shell):
  admin list                   admin totp-reset <username>   (they enrol again at next login)
  admin unlock <username>      (clears login lockout)
  admin passwd <username> [--password-stdin]
                               a temporary password (12+ characters) they must change at next login

API keys (emergency use from the server's shell):
  api-key list [--json]        every key of the organization, never a secret
  api-key revoke <id>          api-key revoke-all   (every key stops at once; audited)

Host enrolment (cairn-agent):
  enrolment-token create [--login-groups G1,G2] [--sudo-groups G3] [--minutes N] [--description D]
                               a single-use token for \`cairn-agent enroll\`, shown once
  enrolment-token list [--json]

Hosts (systems enrolled with cairn-agent):
  system list [--json]
  system disable <hostname>    its logins and its LDAP credential stop at once
  system enable <hostname>
  system rotate-credential <hostname>
                               the host fetches a new LDAP bind password at its next sync

Security posture:
  posture [--json]             the deployment's settings against CIS / NIST 800-53 / HIPAA / GDPR controls

Configuration: defaults < --config FILE (YAML/JSON) < CAIRN_* environment (e.g. CAIRN_DATABASE__URL).
`;

class UsageError extends Error {}

const options = {
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  only: { type: 'string' },
  name: { type: 'string' },
  email: { type: 'string' },
  shell: { type: 'string' },
  home: { type: 'string' },
  description: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  'must-change': { type: 'boolean' },
  staged: { type: 'boolean' },
  json: { type: 'boolean' },
  follow: { type: 'boolean', short: 'f' },
  n: { type: 'string', short: 'n' },
  'login-groups': { type: 'string' },
  'sudo-groups': { type: 'string' },
  minutes: { type: 'string' },
  'overlap-hours': { type: 'string' },
} satisfies ParseArgsConfig['options'];

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

async function readSecret(prompt: string, fromStdin: boolean): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin });
    for await (const line of rl) {
      rl.close();
      return line;
    }
    throw new UsageError('no password on standard input');
  }
  // Interactive: ask twice without echo.
  const ask = (q: string) =>
    new Promise<string>((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WritableStream };
      out._writeToOutput = (s: string) => {
        if (s.includes(q)) out.output.write(s);
      };
      rl.question(q, (answer) => {
        rl.close();
        process.stderr.write('\n');
        resolve(answer);
      });
    });
  const first = await ask(prompt);
  if ((await ask('again: ')) !== first) throw new UsageError('the two passwords differ');
  return first;
}

function printUsers(users: User[], groups: Map<string, string>, json: boolean) {
  if (json) return console.log(JSON.stringify(users, null, 2));
  const rows = users.map((u) => [u.username, String(u.uidNumber), u.state, u.email ?? '', u.groupIds.map((g) => groups.get(g) ?? g).join(',')]);
  table(['USERNAME', 'UID', 'STATE', 'EMAIL', 'GROUPS'], rows);
}

function table(head: string[], rows: string[][]) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

async function findUser(dir: Directory, org: Org, username: string | undefined): Promise<User> {
  if (!username) throw new UsageError('missing <username>');
  const user = await dir.users.findByUsername(org.id, username);
  if (!user) throw new UsageError(`no user named ${username}`);
  return user;
}

async function findGroup(dir: Directory, org: Org, name: string | undefined): Promise<Group> {
  if (!name) throw new UsageError('missing <group>');
  const group = await dir.groups.findByName(org.id, name);
  if (!group) throw new UsageError(`no group named ${name}`);
  return group;
}

async function withDirectory<T>(config: Readonly<Config>, log: Logger, work: (dir: Directory, org: Org) => Promise<T>): Promise<T> {
  const dir = await openDirectory({ config, log, migrate: true });
  try {
    const { org, admin } = await bootstrap(dir);
    if (admin?.password) printBootstrapAdmin(admin.username, admin.password);
    return await work(dir, org);
  } finally {
    await dir.close();
  }
}

function printBootstrapAdmin(username: string, password: string) {
  // Printed once to the terminal, never logged: the log is for operators and SIEMs.
  process.stderr.write(
    `\n  Initial administrator created.\n    username: ${username}\n    password: ${password}\n` +
      `  It is shown only this once; you must change it and enrol TOTP at first login.\n\n`,
  );
}

async function serve(config: Readonly<Config>, log: Logger, values: Values) {
  // Loaded only here: the user/group/audit commands need none of the protocol stacks.
  const { serviceNames, startAll } = await import('../servers/all.js');
  type ServiceName = (typeof serviceNames)[number];
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of only ?? []) {
    if (!serviceNames.includes(name as ServiceName)) throw new UsageError(`--only: unknown service ${name} (${serviceNames.join(', ')})`);
  }
  const running = await startAll(config, log, only as ServiceName[] | undefined);
  if (running.bootstrapAdmin?.password) printBootstrapAdmin(running.bootstrapAdmin.username, running.bootstrapAdmin.password);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      log.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, 15_000);
    deadline.unref();
    await running.stop(10_000);
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  const [command, sub, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(HELP);
    return command || values.help ? 0 : 2;
  }
  const config = loadConfig({ file: values.config });
  const log = createLogger({ level: command === 'serve' ? config.log.level : 'warn', pretty: config.log.pretty });
  const osUser = userInfo().username;
  const actor = { type: 'cli' as const, id: `cli:${osUser}`, name: osUser };
  const ctxOf = (org: Org) => ({ ...systemContext(org.id, 'cli', actor) });

  switch (command) {
    case 'serve':
      await serve(config, log, values);
      return -1; // keep running
    case 'migrate':
      await withDirectory(config, log, async () => console.log('database is up to date'));
      return 0;
    case 'user':
      return withDirectory(config, log, async (dir, org) => {
        const ctx = ctxOf(org);
        switch (sub) {
          case 'add': {
            const username = rest[0];
            if (!username) throw new UsageError('missing <username>');
            const password = values['password-stdin'] ? await readSecret('password: ', true) : undefined;
            const user = await dir.users.create(ctx, {
              username,
              ...(values.name ? { displayName: values.name } : {}),
              ...(values.email ? { email: values.email } : {}),
              ...(values.shell ? { loginShell: values.shell } : {}),
              ...(values.home ? { homeDirectory: values.home } : {}),
              ...(password !== undefined ? { password } : {}),
              mustChangePassword: !!values['must-change'],
              state: values.staged ? 'staged' : 'active',
            });
            console.log(`created ${user.username} (uid ${user.uidNumber})`);
            return 0;
          }
          case 'list': {
            const [users, groups] = await Promise.all([dir.users.list(org.id, { limit: 100_000 }), dir.groups.list(org.id, { limit: 100_000 })]);
            printUsers(users, new Map(groups.map((g) => [g.id, g.name])), !!values.json);
            return 0;
          }
          case 'show': {
            const user = await findUser(dir, org, rest[0]);
            if (values.json) console.log(JSON.stringify(user, null, 2));
            else {
              const groups = await dir.groups.list(org.id, { limit: 100_000 });
              const names = new Map(groups.map((g) => [g.id, g.name]));
              for (const [k, v] of Object.entries({
                username: user.username, displayName: user.displayName, email: user.email ?? '', state: user.state,
                uidNumber: user.uidNumber, gidNumber: user.gidNumber, homeDirectory: user.homeDirectory, loginShell: user.loginShell,
                passwordSet: user.hasPassword, passwordExpiresAt: user.passwordExpiresAt?.toISOString() ?? 'never',
                mustChangePassword: user.mustChangePassword, totpEnrolled: user.totpEnrolled,
                groups: user.groupIds.map((g) => names.get(g)).join(', '), sshKeys: user.sshKeys.map((k) => `${k.type} ${k.fingerprint}`).join('; '),
              })) console.log(`${k.padEnd(20)} ${v}`);
            }
            return 0;
          }
          case 'passwd': {
            const user = await findUser(dir, org, rest[0]);
            const password = await readSecret('new password: ', !!values['password-stdin']);
            await dir.users.setPassword(ctx, user.id, password, { mustChange: !!values['must-change'] });
            console.log(`password of ${user.username} changed`);
            return 0;
          }
          case 'suspend':
          case 'reactivate': {
            const user = await findUser(dir, org, rest[0]);
            await dir.users.setState(ctx, user.id, sub === 'suspend' ? 'suspended' : 'active');
            console.log(`${user.username} ${sub === 'suspend' ? 'suspended' : 'reactivated'}`);
            return 0;
          }
          case 'unlock': {
            const user = await findUser(dir, org, rest[0]);
            await dir.users.unlock(ctx, user.id);
            console.log(`${user.username} unlocked`);
            return 0;
          }
          case 'delete': {
            const user = await findUser(dir, org, rest[0]);
            await dir.users.delete(ctx, user.id);
            console.log(`${user.username} deleted`);
            return 0;
          }
          default:
            throw new UsageError(`unknown: user ${sub ?? ''}`);
        }
      });
    case 'group':
      return withDirectory(config, log, async (dir, org) => {
        const ctx = ctxOf(org);
        switch (sub) {
          case 'add': {
            if (!rest[0]) throw new UsageError('missing <name>');
            const g = await dir.groups.create(ctx, { name: rest[0], ...(values.description ? { description: values.description } : {}) });
            console.log(`created ${g.name} (gid ${g.gidNumber})`);
            return 0;
          }
          case 'list': {
            const [groups, users] = await Promise.all([dir.groups.list(org.id, { limit: 100_000 }), dir.users.list(org.id, { limit: 100_000 })]);
            if (values.json) console.log(JSON.stringify(groups, null, 2));
            else {
              const names = new Map(users.map((u) => [u.id, u.username]));
              table(['NAME', 'GID', 'MEMBERS', 'DESCRIPTION'], groups.map((g) => [g.name, String(g.gidNumber), g.memberIds.map((m) => names.get(m) ?? m).join(','), g.description]));
            }
            return 0;
          }
          case 'add-member':
          case 'remove-member': {
            const group = await findGroup(dir, org, rest[0]);
            const user = await findUser(dir, org, rest[1]);
            if (sub === 'add-member') await dir.groups.addMember(ctx, group.id, user.id);
            else await dir.groups.removeMember(ctx, group.id, user.id);
            console.log(`${user.username} ${sub === 'add-member' ? 'added to' : 'removed from'} ${group.name}`);
            return 0;
          }
          default:
            throw new UsageError(`unknown: group ${sub ?? ''}`);
        }
      });
    case 'sso':
      return withDirectory(config, log, async (dir, org) => {
        const ctx = ctxOf(org);
        const keys = await import('../servers/sso/keys.js');
        switch (sub) {
          case 'rotate-keys': {
            await keys.loadKeys(dir, ctx, `Cairn ${org.name}`); // creates them on a fresh install
            const { kid, retired } = await keys.rotateOidcKeys(dir, ctx);
            console.log(`new OIDC signing key ${kid}; still published for a day: ${retired.join(', ') || 'none'}`);
            console.log('running servers switch to it within a minute');
            return 0;
          }
          case 'rotate-saml-key': {
            const hours = values['overlap-hours'] === undefined ? 168 : Number(values['overlap-hours']);
            if (!Number.isInteger(hours) || hours < 0 || hours > 24 * 365) throw new UsageError('--overlap-hours: a whole number of hours, 0 to 8760');
            await keys.loadKeys(dir, ctx, `Cairn ${org.name}`); // creates the current one on a fresh install
            const { activateAt } = await keys.rotateSamlKey(dir, ctx, `Cairn ${org.name}`, hours * 3600);
            console.log(hours
              ? `new SAML signing certificate, published in <issuer>/saml/metadata beside the current one; it signs from ${new Date(activateAt).toISOString()}: give every SP the metadata before then`
              : 'new SAML signing certificate signs now (running servers switch within a minute); give every SP the metadata at <issuer>/saml/metadata');
            return 0;
          }
          case 'apps': {
            const apps = await dir.sso.apps.list(org.id);
            if (values.json) console.log(JSON.stringify(apps.map((a) => ({ ...a, settings: { ...a.settings, clientSecretHash: undefined, metadataXml: undefined } }))));
            else for (const a of apps) console.log(`${a.type}\t${a.name}\t${a.type === 'oidc' ? a.settings.clientId : a.settings.entityId}\t${a.displayName}`);
            return 0;
          }
          default:
            throw new UsageError(`unknown: sso ${sub ?? ''}`);
        }
      });
    case 'audit':
      return withDirectory(config, log, async (dir, org) => {
        if (sub === 'verify') {
          const result = await dir.audit.verify();
          if (result.ok) console.log(`audit chain intact: ${result.checked} events`);
          else console.log(`audit chain BROKEN at event ${result.brokenAt}: ${result.reason} (${result.checked} events verified before it)`);
          return result.ok ? 0 : 1;
        }
        if (sub !== 'tail') throw new UsageError(`unknown: audit ${sub ?? ''}`);
        const n = Number(values.n ?? 20);
        if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new UsageError('-n: a number from 1 to 10000');
        const print = (events: Awaited<ReturnType<typeof dir.audit.list>>) => {
          for (const e of events) {
            if (values.json) console.log(JSON.stringify(eventToJson(e)));
            else {
              const who = e.initiatedBy.username ?? e.initiatedBy.email ?? e.initiatedBy.id ?? e.initiatedBy.type;
              const what = e.resource ? ` ${e.resource.type}:${e.resource.name ?? e.resource.id ?? ''}` : '';
              console.log(`${e.seq}\t${e.timestamp.toISOString()}  ${e.eventType.padEnd(24)} ${e.success ? 'ok  ' : 'FAIL'} ${who} (${e.service}${e.clientIp ? ' ' + e.clientIp : ''})${what}${e.reason ? ' reason=' + e.reason : ''}`);
            }
          }
        };
        const last = (await dir.audit.list({ orgId: org.id, limit: n, order: 'desc' })).reverse();
        print(last);
        if (!values.follow) return 0;
        let after = last.at(-1)?.seq ?? 0;
        for (;;) {
          await new Promise((r) => setTimeout(r, 1000));
          const next = await dir.audit.list({ orgId: org.id, afterSeq: after, limit: 1000 });
          print(next);
          after = next.at(-1)?.seq ?? after;
        }
      });
    case 'admin':
      return withDirectory(config, log, async (dir, org) => {
        const ctx = systemContext(org.id, 'cli', { type: 'cli', id: `cli:${userInfo().username}`, name: userInfo().username });
        const admins = await dir.admins.list(org.id);
        if (sub === 'list') {
          for (const a of admins) console.log(`${a.username.padEnd(20)} ${a.role.padEnd(13)} ${a.state.padEnd(9)} totp ${a.totpEnrolled ? 'yes' : 'no'}`);
          return 0;
        }
        const target = admins.find((a) => a.username === rest[0]);
        if (sub !== 'totp-reset' && sub !== 'unlock' && sub !== 'passwd') throw new UsageError(`unknown: admin ${sub ?? ''}`);
        if (!target) throw new UsageError(`no admin named ${rest[0] ?? '(none given)'}`);
        if (sub === 'passwd') {
          await dir.admins.resetPassword(ctx, target.id, await readSecret('temporary password: ', !!values['password-stdin']));
          console.log(`${target.username}: password reset; they must choose a new one at their next login`);
        } else if (sub === 'totp-reset') {
          await dir.admins.resetTotp(ctx, target.id);
          console.log(`${target.username}: TOTP removed; they enrol a new one at their next login`);
        } else {
          await dir.admins.unlock(ctx, target.id);
          console.log(`${target.username}: login lockout cleared`);
        }
        return 0;
      });
    case 'api-key':
      return withDirectory(config, log, async (dir, org) => {
        const keys = new ApiKeys(dir.deps);
        const ctx = systemContext(org.id, 'cli', { type: 'cli', id: `cli:${userInfo().username}`, name: userInfo().username });
        if (sub === 'list') {
          const all = await keys.list(org.id);
          if (values.json) console.log(JSON.stringify(all, null, 2));
          else for (const k of all) console.log(`${k.id}  ${k.publicId}  ${k.status.padEnd(8)} ${k.role.padEnd(13)} expires ${k.expiresAt.toISOString()}  last used ${k.lastUsedAt?.toISOString() ?? 'never'}${k.lastUsedIp ? ' from ' + k.lastUsedIp : ''}  ${k.name}`);
          return 0;
        }
        if (sub === 'revoke') {
          const k = await keys.revoke(ctx, rest[0] ?? '');
          console.log(`revoked ${k.id} (${k.name})`);
          return 0;
        }
        if (sub === 'revoke-all') {
          console.log(`revoked ${await keys.revokeAll(ctx)} API key(s)`);
          return 0;
        }
        throw new UsageError(`unknown: api-key ${sub ?? ''}`);
      });
    case 'enrolment-token':
      return withDirectory(config, log, async (dir, org) => {
        const agents = new HostAgents(dir.deps, dir);
        if (sub === 'list') {
          const all = await agents.listTokens(org.id);
          if (values.json) console.log(JSON.stringify(all, null, 2));
          else for (const k of all) console.log(`${k.id}  ${k.revokedAt ? 'revoked' : k.usedAt ? 'used   ' : k.expiresAt.getTime() <= Date.now() ? 'expired' : 'active '}  expires ${k.expiresAt.toISOString()}  ${k.description}`);
          return 0;
        }
        if (sub !== 'create') throw new UsageError(`unknown: enrolment-token ${sub ?? ''}`);
        const groupIds = async (names: string | undefined) => {
          const ids: string[] = [];
          for (const n of (names ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
            const g = await dir.groups.findByName(org.id, n);
            if (!g) throw new UsageError(`no group named ${n}`);
            ids.push(g.id);
          }
          return ids;
        };
        const minutes = values.minutes === undefined ? undefined : Number(values.minutes);
        const out = await agents.createToken(ctxOf(org), {
          description: values.description ?? '', loginGroupIds: await groupIds(values['login-groups']), sudoGroupIds: await groupIds(values['sudo-groups']),
          ...(minutes === undefined ? {} : { ttlMinutes: minutes }),
        }, { defaultMinutes: config.agent.tokenDefaultMinutes, maxMinutes: config.agent.tokenMaxMinutes });
        console.log(out.secret);
        process.stderr.write(`single use, expires ${out.token.expiresAt.toISOString()}; shown only this once\n`);
        return 0;
      });
    case 'system':
      return withDirectory(config, log, async (dir, org) => {
        if (sub === 'list') {
          const all = await dir.systems.list(org.id, { limit: 10_000 });
          if (values.json) console.log(JSON.stringify(all, null, 2));
          else for (const s of all) console.log(`${s.hostname}  ${s.state}  last contact ${s.lastContactAt?.toISOString() ?? 'never'}  ${s.os}`);
          return 0;
        }
        const hostname = rest[0];
        if (!hostname || !['disable', 'enable', 'rotate-credential'].includes(sub ?? '')) throw new UsageError(`unknown: system ${sub ?? ''}`);
        const system = await dir.systems.findByHostname(org.id, hostname);
        if (!system) throw new UsageError(`no system named ${hostname}`);
        if (sub === 'rotate-credential') {
          await new HostAgents(dir.deps, dir).requestRotation(ctxOf(org), system.id);
          console.log(`${system.hostname}: a new LDAP bind password at the host's next sync`);
        } else {
          // A host that never enrolled goes back to pending, not enrolled.
          await dir.systems.update(ctxOf(org), system.id, { state: sub === 'disable' ? 'disabled' : system.agentVersion === null ? 'pending' : 'enrolled' });
          console.log(`${system.hostname}: ${sub === 'disable' ? 'disabled' : 'enabled'}`);
        }
        return 0;
      });
    case 'posture':
      return withDirectory(config, log, async (dir, org) => {
        const report = await postureReport(dir, org.id);
        if (values.json) {
          console.log(JSON.stringify(report, null, 2));
          return 0;
        }
        for (const c of report.checks) {
          const ids = [...c.frameworks.cis.map((x) => `CIS ${x}`), ...c.frameworks.nist80053, ...c.frameworks.hipaa.map((x) => `HIPAA ${x}`), ...c.frameworks.gdpr.map((x) => `GDPR ${x}`)];
          console.log(`${c.status === 'pass' ? 'PASS' : 'FAIL'}  ${c.title}\n      ${c.finding}\n      why: ${c.why}\n      ${ids.join(', ')}`);
        }
        console.log(`${report.passed} passed, ${report.failed} failed`);
        return 0;
      });
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`cairn: ${(err as Error).message}\n(see cairn --help)\n`);
      process.exitCode = 2;
    } else if (err instanceof ConfigError) {
      process.stderr.write(`cairn: ${err.message}\n`);
      process.exitCode = 2;
    } else if (isCairnError(err) && err.expose) {
      const detail = err.details.length ? `: ${err.details.join('; ')}` : '';
      process.stderr.write(`cairn: ${err.field ? err.field + ': ' : ''}${err.message}${detail}\n`);
      process.exitCode = 1;
    } else {
      const e = err as Error;
      // The driver's reason (refused connection, unknown role, failed TLS…) never carries the URL's password.
      const msg = isCairnError(err) && err.code === 'unavailable' ? `the database is unreachable${err.cause === undefined ? '' : `: ${scrubError(err.cause).message}`}` : e.message ?? String(err);
      process.stderr.write(`cairn: ${msg}\n`);
      process.exitCode = 1;
    }
  },
);
