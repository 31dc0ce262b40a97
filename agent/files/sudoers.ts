// sudo: members of the host's sudo groups get full rights through a sudoers drop-in, checked
// with `visudo -cf` before it is installed (when visudo exists). Group names were validated
// (config.ts SAFE_GROUP), so none can inject a rule.
import { HEADER, type ManagedFile, type RenderInput } from './types.js';

export const SUDOERS_DROPIN = '/etc/sudoers.d/cairn';

export function sudoersFile(inp: RenderInput): ManagedFile {
  const rules = inp.config.sudoGroups.map((g) => `%${g} ALL=(ALL:ALL) ALL`);
  const content = [HEADER.trimEnd(), ...(rules.length ? rules : ['# (no sudo groups for this host)']), ''].join('\n');
  return { path: SUDOERS_DROPIN, mode: 0o440, content, validate: 'sudoers' };
}
