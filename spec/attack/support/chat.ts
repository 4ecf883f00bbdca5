/**
 * The built chat example (`dist/examples/chat/server.js`) in its own process,
 * with its pid (for RSS), its log lines and its `/status`; and the pid of a
 * redis-server, to stop it with SIGSTOP.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import Redis from 'ioredis';
import { get } from '../../support/net';
import { ROOT, start } from './process';

const CHAT_JS = join(ROOT, 'dist', 'examples', 'chat', 'server.js');
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
  const chat = start(process.execPath, [CHAT_JS, '--port', '0', ...args]);
  let port: number;
  try {
    port = Number(LISTENING.exec(await chat.waitForLine(LISTENING))![1]);
  } catch (err) {
    await chat.stop(0);
    throw err;
  }
  return {
    pid: chat.pid,
    port,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    lines: chat.lines,
    waitForLine: chat.waitForLine,
    status: async () => JSON.parse((await get(`http://127.0.0.1:${port}/status`)).body),
    stop: () => chat.stop(),
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
