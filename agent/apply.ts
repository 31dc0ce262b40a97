// Applying files to the host: every file backed up before its first change, written
// atomically (write, fsync, rename, fsync the directory), idempotent (unchanged files are not
// touched), rolled back as a whole when one step fails (the error names the file), and
// restored byte for byte (content, mode, owner) by unenroll. `root` lets all of this happen in
// a temporary tree instead of /.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync, chownSync, closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync,
  renameSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, basename } from 'node:path';
import type { ManagedFile } from './files/index.js';

export interface Original { existed: boolean; mode: number; uid: number; gid: number; backup: string | null }
export interface Manifest { files: Record<string, Original>; dirs: string[] }

export const STATE_DIR = '/var/lib/cairn-agent';
const abs = (root: string, p: string) => join(root, p);
const isRoot = () => process.getuid?.() === 0;

export function stateDir(root: string): string {
  return abs(root, STATE_DIR);
}
const manifestPath = (root: string) => join(stateDir(root), 'backup', 'manifest.json');

export function loadManifest(root: string): Manifest {
  try {
    return JSON.parse(readFileSync(manifestPath(root), 'utf8')) as Manifest;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files: {}, dirs: [] };
    throw err;
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* some filesystems refuse fsync on directories */
  }
}

/** Write, fsync, rename over the target, fsync the directory. Mode is set before the rename. */
export function atomicWrite(path: string, data: Buffer | string, mode: number, owner?: { uid: number; gid: number }): void {
  const tmp = join(dirname(path), `.${basename(path)}.cairn-${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    chmodSync(tmp, mode);
    if (owner && isRoot()) chownSync(tmp, owner.uid, owner.gid);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dirname(path));
}

function saveManifest(root: string, m: Manifest): void {
  const dir = join(stateDir(root), 'backup');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  atomicWrite(manifestPath(root), JSON.stringify(m, null, 1) + '\n', 0o600);
}

function current(path: string): { data: Buffer; mode: number; uid: number; gid: number } | null {
  try {
    const st = lstatSync(path);
    if (!st.isFile()) throw new Error(`${path} is not a regular file; the agent will not replace it`);
    return { data: readFileSync(path), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch (err) {
    if (['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return null;
    throw err;
  }
}

/** What a file held before the agent first changed it (the backup), else what it holds now. */
export function originalContent(root: string, path: string): string | null {
  const m = loadManifest(root).files[path];
  if (m) return m.existed && m.backup ? readFileSync(join(stateDir(root), 'backup', m.backup), 'utf8') : null;
  const cur = current(abs(root, path));
  return cur ? cur.data.toString('utf8') : null;
}

export function unifiedDiff(path: string, before: string | null, after: string | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-agent-diff-'));
  try {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    writeFileSync(a, before ?? '');
    writeFileSync(b, after ?? '');
    const r = spawnSync('diff', ['-u', '--label', before === null ? '/dev/null' : `a${path}`, '--label', after === null ? '/dev/null' : `b${path}`, a, b], { encoding: 'utf8' });
    if (r.error) return `--- a${path}\n+++ b${path}\n(diff(1) is not installed: ${before === null ? 'new file' : 'content changes'})\n`;
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Hide the LDAP bind password in anything shown to a person. */
export function redactSecrets(text: string): string {
  return text.replace(/^([+ -]?ldap_default_authtok\s*=\s*).*$/gm, '$1********');
}

export interface ApplyResult { changed: ManagedFile[]; diff: string }

function visudoCheck(path: string): void {
  const which = spawnSync('sh', ['-c', 'command -v visudo'], { encoding: 'utf8' });
  const bin = which.status === 0 ? which.stdout.trim() : existsSync('/usr/sbin/visudo') ? '/usr/sbin/visudo' : null;
  if (!bin) return;
  const r = spawnSync(bin, ['-c', '-q', '-f', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`visudo refused the sudoers drop-in: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
}

/** Create missing parent directories (0755), recording each one so unenroll can remove it. */
function ensureDirs(root: string, path: string, m: Manifest): boolean {
  const missing: string[] = [];
  for (let d = dirname(path); d !== '/' && !existsSync(abs(root, d)); d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    mkdirSync(abs(root, d), { mode: 0o755 });
    m.dirs.push(d);
  }
  return missing.length > 0;
}

export function apply(root: string, files: ManagedFile[], opts: { dryRun: boolean }): ApplyResult {
  const changed: ManagedFile[] = [];
  const before = new Map<string, ReturnType<typeof current>>();
  let diff = '';
  for (const f of files) {
    const cur = current(abs(root, f.path));
    if (cur && cur.mode === f.mode && cur.data.equals(Buffer.from(f.content, 'utf8'))) continue;
    changed.push(f);
    before.set(f.path, cur);
    const mode = cur && cur.mode !== f.mode ? `mode ${cur.mode.toString(8).padStart(4, '0')} → ${f.mode.toString(8).padStart(4, '0')}: ${f.path}\n` : !cur ? `new file, mode ${f.mode.toString(8).padStart(4, '0')}: ${f.path}\n` : '';
    diff += mode + redactSecrets(unifiedDiff(f.path, cur ? cur.data.toString('utf8') : null, f.content));
  }
  if (opts.dryRun || !changed.length) return { changed, diff };

  const m = loadManifest(root);
  // Back up every original first, and record it, before any file is touched.
  for (const f of changed) {
    if (m.files[f.path]) continue;
    const cur = before.get(f.path)!;
    let backup: string | null = null;
    if (cur) {
      backup = createHash('sha256').update(f.path).digest('hex').slice(0, 32);
      mkdirSync(join(stateDir(root), 'backup'), { recursive: true, mode: 0o700 });
      atomicWrite(join(stateDir(root), 'backup', backup), cur.data, 0o600);
    }
    m.files[f.path] = { existed: !!cur, mode: cur?.mode ?? 0, uid: cur?.uid ?? 0, gid: cur?.gid ?? 0, backup };
  }
  saveManifest(root, m);

  const done: ManagedFile[] = [];
  for (const f of changed) {
    try {
      if (ensureDirs(root, f.path, m)) saveManifest(root, m);
      const target = abs(root, f.path);
      const owner = before.get(f.path) ?? { uid: 0, gid: 0 };
      if (f.validate === 'sudoers') {
        const probe = join(dirname(target), `.${basename(target)}.check-${randomBytes(4).toString('hex')}`);
        writeFileSync(probe, f.content, { mode: 0o440 });
        try {
          visudoCheck(probe);
        } finally {
          rmSync(probe, { force: true });
        }
      }
      atomicWrite(target, f.content, f.mode, owner);
      done.push(f);
    } catch (err) {
      const problems: string[] = [];
      for (const g of done.reverse()) {
        try {
          const prev = before.get(g.path);
          if (prev) atomicWrite(abs(root, g.path), prev.data, prev.mode, prev);
          else unlinkSync(abs(root, g.path));
        } catch (e) {
          problems.push(`${g.path}: ${(e as Error).message}`);
        }
      }
      throw new Error(`applying ${f.path} failed: ${(err as Error).message}; ${done.length} earlier change(s) of this run ${problems.length ? `could not all be rolled back (${problems.join('; ')})` : 'were rolled back'}`);
    }
  }
  return { changed, diff };
}

/** Put back every file the agent changed, byte for byte, and remove what it created. */
export function restoreAll(root: string, opts: { dryRun: boolean }): { restored: string[]; removed: string[]; diff: string } {
  const m = loadManifest(root);
  const restored: string[] = [];
  const removed: string[] = [];
  let diff = '';
  for (const [path, o] of Object.entries(m.files)) {
    const target = abs(root, path);
    const cur = current(target);
    if (o.existed) {
      const data = readFileSync(join(stateDir(root), 'backup', o.backup!));
      if (cur && cur.data.equals(data) && cur.mode === o.mode) continue;
      diff += redactSecrets(unifiedDiff(path, cur?.data.toString('utf8') ?? null, data.toString('utf8')));
      if (!opts.dryRun) atomicWrite(target, data, o.mode, o);
      restored.push(path);
    } else if (cur) {
      diff += redactSecrets(unifiedDiff(path, cur.data.toString('utf8'), null));
      if (!opts.dryRun) {
        unlinkSync(target);
        fsyncDir(dirname(target));
      }
      removed.push(path);
    }
  }
  if (!opts.dryRun) {
    for (const d of [...m.dirs].reverse()) {
      try {
        if (readdirSync(abs(root, d)).length === 0) rmdirSync(abs(root, d));
      } catch {
        /* already gone */
      }
    }
  }
  return { restored, removed, diff };
}

export function modeOf(path: string): number {
  return statSync(path).mode & 0o7777;
}
