/**
 * Runs spec/e2e/peers/resume-hub-server.js (the built library, resumable
 * sessions and a hub on Redis with history) as a child process on a free
 * port, and kills it with SIGKILL when asked: no goodbye, no last store of
 * positions, as a crash would.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { watchLines } from './lines';

const ROOT = join(__dirname, '..', '..', '..');
const LIBRARY = join(ROOT, 'dist', 'src', 'index.js');
const SCRIPT = join(__dirname, 'resume-hub-server.js');

export interface ResumeHubOptions {
  readonly redisUrl: string;
  readonly ttl: number;
  readonly maxLen: number;
  readonly maxAge: number;
  readonly positionsInterval: number;
}

export interface ResumeHubProcess {
  readonly port: number;
  /** Every stdout line so far. */
  readonly lines: readonly string[];
  /** Resolves with the first line at or after line `from` matching `pattern`. */
  waitForLine(pattern: RegExp, from?: number, timeoutMs?: number): Promise<string>;
  /** SIGKILL, and resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (the hub stores its positions), and resolves with the exit code. */
  stop(): Promise<number | null>;
}

export async function startResumeHub(options: ResumeHubOptions): Promise<ResumeHubProcess> {
  if (!existsSync(LIBRARY)) throw new Error(`${LIBRARY} is missing: run \`npm run build\` (npm run test:e2e does)`);
  const { redisUrl, ttl, maxLen, maxAge, positionsInterval } = options;
  const child = spawn(process.execPath, [SCRIPT, redisUrl, String(ttl), String(maxLen), String(maxAge), String(positionsInterval)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { lines, waitForLine, exited, done } = watchLines(child, 'server');
  let port: number;
  try {
    port = Number(/^listening (\d+)$/.exec(await waitForLine(/^listening \d+$/))![1]);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  return {
    port,
    lines,
    waitForLine,
    kill: async () => {
      if (!done()) child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (!done()) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
