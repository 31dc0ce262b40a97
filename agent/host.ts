// The commands the agent runs: only its own fixed steps (reloads, the PAM profile), never
// anything the server sends. On a real root they run on this host; with --root nothing runs
// (the steps are listed) unless the caller passes its own HostCommands (tests do, with fakes
// on a PATH of their own).
import { spawnSync } from 'node:child_process';

export interface CommandResult { status: number | null; stdout: string; stderr: string }

export interface HostCommands {
  /** Whether a command is installed. */
  have(bin: string): boolean;
  run(argv: string[]): CommandResult;
}

/** Commands looked up on `path` (the process's own PATH for the real host). */
export function commandsOnPath(path = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): HostCommands {
  const env = { ...process.env, PATH: path };
  return {
    have: (bin) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', bin], { env }).status === 0,
    run: (argv) => {
      const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000, env });
      return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr || r.error?.message || '' };
    },
  };
}
