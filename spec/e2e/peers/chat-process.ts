/**
 * Runs the BUILT chat example (`dist/examples/chat/server.js`) as a child
 * process on a free port, as echo-process.ts does for the echo example.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { get } from '../../support/net';
import { watchLines } from './lines';

const ROOT = join(__dirname, '..', '..', '..');
export const CHAT_JS = join(ROOT, 'dist', 'examples', 'chat', 'server.js');
const LISTENING = /chat server on http:\/\/127\.0\.0\.1:(\d+)\/ /;

export interface ChatProcess {
  readonly port: number;
  readonly wsUrl: string;
  /** Every stdout line so far. */
  readonly lines: readonly string[];
  /** Resolves with the first line at or after line `from` matching `pattern`. */
  waitForLine(pattern: RegExp, from?: number, timeoutMs?: number): Promise<string>;
  /** GET /status, parsed. */
  status(): Promise<ChatStatus>;
  /** SIGTERM; resolves with the exit code once the process is gone. */
  stop(): Promise<number | null>;
}

export interface ChatStatus {
  readonly redis: { readonly state: string; readonly attempt?: number; readonly attempts?: number; readonly error?: string | null } | null;
  readonly clients: number;
  readonly hub: { readonly published: number; readonly received: number; readonly duplicates: number; readonly adapter: Record<string, number> };
}

/** Starts `node dist/examples/chat/server.js --port 0 ...args` and waits for its listening line. */
export async function startChat(args: readonly string[]): Promise<ChatProcess> {
  if (!existsSync(CHAT_JS)) throw new Error(`${CHAT_JS} is missing: run \`npm run build\` (npm run test:e2e does)`);
  const child = spawn(process.execPath, [CHAT_JS, '--port', '0', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: undefined, HOST: undefined, REDIS_URL: undefined },
  });
  const { lines, waitForLine, exited, done } = watchLines(child, 'chat server');

  let port: number;
  try {
    port = Number(LISTENING.exec(await waitForLine(LISTENING))![1]);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  let stopped: Promise<number | null> | null = null;
  return {
    port,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    lines,
    waitForLine,
    status: async () => JSON.parse((await get(`http://127.0.0.1:${port}/status`)).body) as ChatStatus,
    stop: () =>
      (stopped ??= (async () => {
        if (!done()) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })()),
  };
}
