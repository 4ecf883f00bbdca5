/**
 * A built example (or any command) in its own process, for the attack
 * suites: its pid (for RSS and signals), its stdout lines as they come, and
 * how it exited.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sleep } from './measure';

export const ROOT = join(__dirname, '..', '..', '..');

export interface Started {
  readonly pid: number;
  /** Every stdout line so far. */
  readonly lines: readonly string[];
  readonly stderr: () => string;
  /** How it ended, once it has: the exit code, or the signal that killed it. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly exited: boolean;
  /** The first line matching `pattern`, waiting for it; rejects if the process ends first or after `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

export function start(command: string, args: readonly string[], env: Record<string, string | undefined> = {}): Started {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORT: undefined, HOST: undefined, REDIS_URL: undefined, ...env } });
  const lines: string[] = [];
  let stderr = '';
  let exited = false;
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => lines.push(line));
  // Once its output is all in ('close'); or a second after it exited, if something it left behind holds its stdout.
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      exited = true;
      resolve({ code, signal });
    };
    child.once('close', done);
    child.once('exit', (code, signal) => setTimeout(() => done(code, signal), 1000).unref());
  });
  const started: Started = {
    pid: child.pid!,
    lines,
    stderr: () => stderr,
    exit,
    get exited() {
      return exited;
    },
    waitForLine: async (pattern, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = lines.find((l) => pattern.test(l));
        if (line !== undefined) return line;
        if (exited || Date.now() > deadline) {
          throw new Error(`${command} ${exited ? 'exited' : 'timed out'} before logging ${pattern}\nstdout:\n${lines.join('\n')}\nstderr:\n${stderr}`);
        }
        await sleep(10);
      }
    },
    signal: (signal) => {
      if (!exited) child.kill(signal);
    },
    stop: async (graceMs = 15_000) => {
      if (!exited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return (await exit).code;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  return started;
}
