/**
 * A built example (or any command) in its own process, for the attack
 * suites: its pid (for RSS and signals), its stdout lines as they come, and
 * how it exited.
 *
 * Its stdout goes to a file that this process reads as it grows, not to a
 * pipe: Node writes to a pipe synchronously, so a server logging a line per
 * attacker would stop whenever this process (busy driving the attackers) is
 * slow to drain the pipe, and the suite would measure its own pipe.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  const dir = mkdtempSync(join(tmpdir(), 'rxjs-ws-attack-'));
  const out = openSync(join(dir, 'stdout'), 'w+');
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', out, 'pipe'], env: { ...process.env, PORT: undefined, HOST: undefined, REDIS_URL: undefined, ...env } });
  const lines: string[] = [];
  let stderr = '';
  let exited = false;
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  // Reads what the file gained since the last call, and keeps the complete lines.
  let offset = 0;
  let partial = '';
  const chunk = Buffer.alloc(1 << 16);
  const readLines = () => {
    for (let n; (n = readSync(out, chunk, 0, chunk.length, offset)) > 0; offset += n) partial += chunk.toString('utf8', 0, n);
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  };
  const reader = setInterval(readLines, 10);
  // Once its output is all in ('close'); or a second after it exited, if something it left behind holds its stderr.
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    let ended = false;
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      if (ended) return;
      ended = true;
      clearInterval(reader);
      readLines();
      if (partial !== '') lines.push(partial);
      closeSync(out);
      rmSync(dir, { recursive: true, force: true });
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
