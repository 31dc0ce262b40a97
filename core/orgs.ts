// Creating an organization other than the default one (tests of cross-org isolation, and later
// multi-tenant deployments).
import { randomUUID } from 'node:crypto';
import { mutate, type Deps } from './context.js';
import { invalidInput } from './errors.js';

export async function createOrg(deps: Deps, input: { name: string; domain: string }): Promise<{ id: string; name: string; domain: string }> {
  if (!/^[a-z0-9][a-z0-9_.-]{0,63}$/.test(input.name)) throw invalidInput('name', 'lower-case letters, digits, _ . -');
  const id = randomUUID();
  await mutate(deps, { orgId: id, actor: { type: 'system', id: null, name: 'cairn' }, clientIp: null, service: 'core' }, async (trx) => {
    await trx('orgs').insert({ id, name: input.name, domain: input.domain, created_at: Date.now() });
    return { result: undefined, audit: { eventType: 'org.created', success: true, resource: { type: 'org', id, name: input.name } } };
  });
  return { id, ...input };
}
