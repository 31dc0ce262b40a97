// Bench data: N users in G groups, written straight into the store in one transaction (the
// core API commits and audits each change, which is right for production and slow for 10,000
// seed rows). Every user gets the same argon2id hash of BENCH_PASSWORD.
import { randomUUID } from 'node:crypto';
import type { Directory, Org } from '../../core/index.js';

export const BENCH_PASSWORD = 'Bench-password-42!';
export const userName = (i: number) => `u${String(i).padStart(5, '0')}`;
export const groupName = (g: number) => `g${String(g).padStart(3, '0')}`;
/** Each user is in two groups. */
export const groupsOf = (i: number, groups: number) => [...new Set([i % groups, (i * 7 + 3) % groups])];

export async function seed(dir: Directory, org: Org, users: number, groups: number, passwordHash: string): Promise<void> {
  const t = Date.now();
  const userIds: string[] = [];
  const groupIds: string[] = [];
  await dir.store.transaction(async (trx) => {
    const rows = [];
    for (let i = 0; i < users; i++) {
      const id = randomUUID();
      userIds.push(id);
      const name = userName(i);
      rows.push({
        id, org_id: org.id, username: name, display_name: `User ${i} Bench`, email: `${name}@example.com`, state: 'active',
        uid_number: 20000 + i, gid_number: 20000 + i, home_directory: `/home/${name}`, login_shell: '/bin/bash',
        password_hash: passwordHash, password_changed_at: t, must_change_password: false, custom_attributes: '{}', created_at: t, updated_at: t,
      });
    }
    for (let k = 0; k < rows.length; k += 500) await trx('users').insert(rows.slice(k, k + 500));
    const grows = [];
    for (let g = 0; g < groups; g++) {
      const id = randomUUID();
      groupIds.push(id);
      grows.push({ id, org_id: org.id, name: groupName(g), gid_number: 50000 + g, description: `Bench group ${g}`, created_at: t, updated_at: t });
    }
    for (let k = 0; k < grows.length; k += 500) await trx('groups').insert(grows.slice(k, k + 500));
    const members = [];
    for (let i = 0; i < users; i++) for (const g of groupsOf(i, groups)) members.push({ group_id: groupIds[g], user_id: userIds[i] });
    for (let k = 0; k < members.length; k += 500) await trx('group_members').insert(members.slice(k, k + 500));
  });
}
