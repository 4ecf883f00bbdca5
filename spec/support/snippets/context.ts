/**
 * What the documentation's snippets run against (spec/docs.spec.ts). A
 * snippet's import of `rxjs-ws` is pointed at ./node-lib (or ./browser-lib),
 * which is the library itself with `serve()`, `connect()`, `createHub()` and
 * `redisAdapter()` wrapped so that a snippet can be run as written: a server
 * listens on a free port whatever port it asks for, a client connects to this
 * context's echo server whatever URL it names, a Redis hub runs on an
 * in-memory bus, and everything is released after the snippet.
 */
import { firstValueFrom } from 'rxjs';
import { WebSocket } from 'ws';
import type { RxClient, RxServer, RxSocket } from '../../../src';
import { serve as realServe } from '../../../src';

interface Closable {
  close(): unknown;
}

/** The echo server, and a server-side socket for snippets that start from one. */
export interface SnippetContext {
  /** `ws://127.0.0.1:<port>/ws`: the echo server, where every snippet's client connects. */
  readonly url: string;
  /** A socket the echo server accepted, left to the snippet (not echoed). */
  readonly socket: RxSocket;
  /** The client end of another connection, not yet wrapped. */
  readonly ws: WebSocket;
}

const servers = new Set<RxServer<unknown>>();
const clients = new Set<RxClient<never>>();
const others = new Set<Closable>();
const raw = new Set<WebSocket>();
let current: SnippetContext | null = null;

/** Keeps a server, a client or a hub the snippet made, to release it after the snippet. */
export function track<T extends object>(thing: T): T {
  if ('connections$' in thing) servers.add(thing as unknown as RxServer<unknown>);
  else if ('status$' in thing && 'socket' in thing) clients.add(thing as unknown as RxClient<never>);
  else others.add(thing as unknown as Closable);
  return thing;
}

/** The context of the snippet that runs now. */
export function context(): SnippetContext {
  if (current === null) throw new Error('no snippet is running');
  return current;
}

/** Starts the echo server and the two connections of a context. */
export async function openContext(): Promise<SnippetContext> {
  const server = track(realServe({ port: 0, path: '/ws', heartbeat: false }));
  const first = new Promise<RxSocket>((resolve) => {
    let taken = false;
    server.connections$.subscribe((socket) => {
      if (!taken) return void ((taken = true), resolve(socket));
      socket.messages$.subscribe(socket); // everyone else is echoed
    });
  });
  const { port } = await server.listening;
  const url = `ws://127.0.0.1:${port}/ws`;
  const mine = new WebSocket(url);
  raw.add(mine);
  const socket = await first;
  const ws = new WebSocket(url);
  raw.add(ws);
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  current = { url, socket, ws };
  return current;
}

/** Releases what the snippet and its context opened. */
export async function closeContext(): Promise<void> {
  current = null;
  for (const client of clients) client.terminate();
  await Promise.all([...clients].map((client) => firstValueFrom(client.close$)));
  for (const thing of others) await thing.close();
  for (const ws of raw) ws.terminate();
  await Promise.all([...servers].map((server) => server.close({ timeout: 100 })));
  for (const set of [servers, clients, others, raw] as Set<unknown>[]) set.clear();
}
