// Where the view's load time goes: the core's list calls vs building entries.
import { ldapFixture } from '../../test/helpers/ldap.js';
import { DirectoryTree } from '../../servers/ldap/tree.js';
import { seed } from './seed.js';
const USERS = Number(process.env.MICRO_USERS ?? 10000);
const fx = await ldapFixture();
await seed(fx.t.dir, fx.t.org, USERS, Math.max(1, Math.round(USERS / 20)), 'x');
let t = Date.now();
const users = await fx.t.dir.users.list(fx.t.org.id, { limit: 100_000 });
console.log('users.list', users.length, Date.now() - t, 'ms');
t = Date.now();
const groups = await fx.t.dir.groups.list(fx.t.org.id, { limit: 100_000 });
console.log('groups.list', groups.length, Date.now() - t, 'ms');
t = Date.now();
const tree = new DirectoryTree(fx.t.dir, fx.t.org, { baseDn: 'dc=example,dc=com', userPrivateGroups: true, refreshSeconds: 300 });
await tree.fresh();
console.log('tree (list + build)', tree.size, Date.now() - t, 'ms');
tree.close();
await fx.stop();
