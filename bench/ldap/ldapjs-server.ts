// The ldapjs alternative, measured for docs/decisions/ldap-server-library.md: ldapjs 3.0.7's
// server over the SAME in-memory view (DirectoryTree, indexes, filter evaluation), serving
// only what the benchmark exercises (service-account bind, user bind through authenticate(),
// (uid=X) search). No StartTLS, no limits: it is a measurement, not a product path.
import { createRequire } from 'node:module';
import type { ServerContext } from '../../servers/shared/types.js';
import { baseDnFor } from '../../servers/ldap/main.js';
import { DirectoryTree, INDEXED } from '../../servers/ldap/tree.js';
import { normalizeDn } from '../../servers/ldap/dn.js';
import { evaluate, indexTerms, type Filter } from '../../servers/ldap/filter.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ldap = require('ldapjs');

/** ldapjs filter objects → our Filter (enough for the benchmark's filters). */
function convert(f: any): Filter {
  switch (f.type) {
    case 'AndFilter': return { t: 'and', list: f.filters.map(convert) };
    case 'OrFilter': return { t: 'or', list: f.filters.map(convert) };
    case 'NotFilter': return { t: 'not', f: convert(f.filter) };
    case 'EqualityFilter': return { t: 'eq', attr: f.attribute, value: String(f.value) };
    case 'PresenceFilter': return { t: 'present', attr: f.attribute };
    default: return { t: 'ext' };
  }
}

export async function startLdapjs(ctx: ServerContext): Promise<{ ports: Record<string, number>; stop(): Promise<void> }> {
  const tree = new DirectoryTree(ctx.dir, ctx.org, { baseDn: baseDnFor(ctx.config, ctx.org), userPrivateGroups: true, refreshSeconds: 300 });
  await tree.fresh();
  const server = ldap.createServer({ certificate: ctx.tls.cert, key: ctx.tls.key });
  server.on('error', () => {});
  const svc = new Map<string, boolean>();
  server.bind(tree.baseDn, async (req: any, res: any, next: any) => {
    const ndn = normalizeDn(req.dn.toString()) ?? '';
    const kind = tree.classify(ndn);
    const pw = req.credentials;
    try {
      if (kind?.kind === 'service') {
        const a = await ctx.dir.serviceAccounts.verify(ctx.org.id, kind.name, pw, null, 'ldap');
        if (!a) return next(new ldap.InvalidCredentialsError());
        svc.set(req.connection.ldap.id, true);
      } else if (kind?.kind === 'user') {
        const r = await ctx.dir.authenticate({ orgId: ctx.org.id, username: kind.name, credential: { kind: 'password', password: pw }, protocol: 'ldap', clientIp: null });
        if (r.decision !== 'allow') return next(new ldap.InvalidCredentialsError());
      } else return next(new ldap.InvalidCredentialsError());
    } catch {
      return next(new ldap.UnavailableError());
    }
    res.end();
    return next();
  });
  server.search(tree.baseDn, async (req: any, res: any, next: any) => {
    if (!svc.get(req.connection.ldap.id)) return next(new ldap.InsufficientAccessRightsError());
    await tree.fresh();
    const filter = convert(req.filter);
    const base = tree.get(normalizeDn(req.dn.toString()) ?? '');
    if (!base) return next(new ldap.NoSuchObjectError());
    const terms = indexTerms(filter, INDEXED);
    const candidates = terms ? tree.lookup(terms, base, 2) : [...tree.scope(base, 2)];
    const wanted = (req.attributes as string[]).map((a) => a.toLowerCase());
    for (const e of candidates) {
      if (evaluate(filter, e) !== true) continue;
      const attributes: Record<string, string[]> = {};
      for (const [k, a] of e.attrs) if (!wanted.length || wanted.includes(k)) attributes[a.name] = a.values;
      res.send({ dn: e.dn, attributes });
    }
    res.end();
    return next();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    ports: { ldaps: server.address().port },
    async stop() {
      tree.close();
      server.close();
    },
  };
}
