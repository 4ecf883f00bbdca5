/**
 * The built chat example (`dist/examples/chat/server.js`) in its own process,
 * with its pid (for RSS), its log lines and its `/status`; and the pid of a
 * redis-server, to stop it with SIGSTOP.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Redis from 'ioredis';
import { get } from '../../support/net';
import { sleep } from './measure';

const CHAT_JS = join(__dirname, '..', '..', '..', 'dist', 'examples', 'chat', 'server.js');
const LISTENING = /chat server on http:\/\/127\.0\.0\.1:(\d+)\/ /;

export interface Chat {
  readonly pid: number;
  readonly port: number;
  readonly wsUrl: string;
  readonly lines: readonly string[];
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  status(): Promise<{ clients: number; hub: { published: number; adapter: Record<string, number> } }>;
  /** SIGTERM; the exit code once it is gone (SIGKILL after 15 s). */
  stop(): Promise<number | null>;
}

export async function startChat(args: readonly string[]): Promise<Chat> {
  if (!existsSync(CHAT_JS)) throw new Error(`${CHAT_JS} is missing: run \`npm run build\` (npm run test:attack does)`);
  const child = spawn(process.execPath, [CHAT_JS, '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: undefined, HOST: undefined, REDIS_URL: undefined },
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => lines.push(line));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.once('close', (c) => resolve((code = c))));
  const waitForLine = async (pattern: RegExp, timeoutMs = 15_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = lines.find((l) => pattern.test(l));
      if (line !== undefined) return line;
      if (code !== undefined || Date.now() > deadline) {
        throw new Error(`chat server ${code !== undefined ? `exited (${code})` : 'timed out'} before logging ${pattern}\n${lines.join('\n')}\n${stderr}`);
      }
      await sleep(10);
    }
  };
  let port: number;
  try {
    port = Number(LISTENING.exec(await waitForLine(LISTENING))![1]);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  let stopping: Promise<number | null> | null = null;
  return {
    pid: child.pid!,
    port,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    lines,
    waitForLine,
    status: async () => JSON.parse((await get(`http://127.0.0.1:${port}/status`)).body),
    stop: () =>
      (stopping ??= (async () => {
        if (code === undefined) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })()),
  };
}

/** The process id of the redis-server at `url` (from `INFO server`). */
export async function redisPid(url: string): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 0, lazyConnect: true });
  try {
    await client.connect();
    const info = await client.info('server');
    return Number(/^process_id:(\d+)/m.exec(info)![1]);
  } finally {
    client.disconnect();
  }
}
