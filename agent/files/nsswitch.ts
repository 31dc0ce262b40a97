// /etc/nsswitch.conf: passwd, group, shadow and sudoers also from sss. Rendered from the
// file as it was before the agent first touched it, so a sync never stacks changes and
// unenroll restores the original bytes.
import type { ManagedFile, RenderInput } from './types.js';

export const NSSWITCH = '/etc/nsswitch.conf';
const DATABASES = ['passwd', 'group', 'shadow', 'sudoers'] as const;

export function withSss(original: string | null): string {
  const text = original ?? '# /etc/nsswitch.conf (created by cairn-agent)\n';
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const seen = new Set<string>();
  const out = lines.map((line) => {
    const m = /^(\s*)([a-z_]+)(\s*):(.*)$/.exec(line);
    if (!m || !(DATABASES as readonly string[]).includes(m[2]!)) return line;
    seen.add(m[2]!);
    const [, , db, , rest] = m;
    const sources = rest!.replace(/#.*$/, '');
    if (/(^|\s)sss(\s|$)/.test(sources)) return line;
    return `${db}:${sources.trimEnd().length ? sources.trimEnd() : ' files'} sss`;
  });
  for (const db of DATABASES) if (!seen.has(db)) out.push(`${db}: files sss`);
  return out.join('\n') + '\n';
}

export function nsswitchFile(inp: RenderInput): ManagedFile {
  return { path: NSSWITCH, mode: 0o644, content: withSss(inp.original(NSSWITCH)) };
}
