// Run the `cairn` CLI as a real process with the given environment.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const cairnEntry = join(import.meta.dirname, '..', '..', 'cli', 'cairn.ts');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A runner for `cairn <args>` (optionally with standard input) that never throws. */
export function cairnCli(env: NodeJS.ProcessEnv): (args: string[], input?: string) => Promise<CliResult> {
  return async (args, input) => {
    const p = run(process.execPath, ['--import', 'tsx', cairnEntry, ...args], { env });
    if (input !== undefined) p.child.stdin!.end(input);
    try {
      const { stdout, stderr } = await p;
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
}
