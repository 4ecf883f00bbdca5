/**
 * Topic history in Redis Streams and sessions that take their topics to
 * another process, on a real redis-server (started here on a free port,
 * nothing persisted). Two servers with resume, each with its own hub on the
 * same Redis, stand for two processes; a client reaches them through a
 * CuttingProxy that is cut and pointed at the other server, as a load
 * balancer would after a server went away. The same with real processes
 * killed with SIGKILL is spec/e2e/resume-hub.e2e.spec.ts.
 */
import Redis from 'ioredis';
import { filter, firstValueFrom } from 'rxjs';
import { connect, type ClientStatus, type RxClient, type RxjsWsError, type RxServer, type RxSession } from '../../src';
import { createHub, HistoryGapError, type Hub } from '../../src/hub/hub';
import { redisAdapter } from '../../src/hub/redis';
import type { RedisHistoryOptions } from '../../src/hub/redis-history';
import { startRedis, type RedisServer } from '../e2e/peers/redis-server';
import { deadPort, delay, listen, waitUntil } from '../support/net';
import { CuttingProxy } from '../support/proxy';

const TTL = 1500;

interface Node {
  readonly server: RxServer;
  readonly port: number;
  readonly hub: Hub;
  readonly sessions: RxSession[];
  readonly errors: RxjsWsError[];
}

describe('topic history and sessions across processes (Redis)', () => {
  let redis: RedisServer;
  const hubs: Hub[] = [];
  const clients: RxClient[] = [];
  const proxies: CuttingProxy[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
    await Promise.all(hubs.splice(0).map((hub) => hub.close()));
    const admin = new Redis(redis.url);
    await admin.flushall();
    admin.disconnect();
  });
  afterAll(async () => {
    await redis.stop();
  });

  const hubOn = (history: RedisHistoryOptions | boolean = true) => {
    const hub = createHub({
      adapter: redisAdapter({ url: redis.url, history, backoff: { initialDelay: 50, maxDelay: 200 }, closeTimeout: 200 }),
      positionsInterval: 50,
    });
    hubs.push(hub);
    return hub;
  };

  /** A server with resume and its hub: each session joins `room` and resumes its other topics; what it sends goes to `room`. */
  const node = async (history?: RedisHistoryOptions | boolean): Promise<Node> => {
    const { server, port } = await listen({ path: '/ws', resume: { ttl: TTL } });
    const hub = hubOn(history);
    const sessions: RxSession[] = [];
    const errors: RxjsWsError[] = [];
    hub.errors$.subscribe((error) => errors.push(error));
    server.sessions$.subscribe((session) => {
      sessions.push(session);
      hub.join(session, 'room'); // from where its lineage left off, if it was there
      void hub.resume(session); // and its other topics
      session.messages$.subscribe((text) => hub.publish('room', text, { except: session }));
    });
    await connected(hub);
    return { server, port, hub, sessions, errors };
  };

  /** A client with resume behind a proxy to `node`, and what it got. */
  const client = async (to: Node) => {
    const proxy = new CuttingProxy(to.port);
    proxies.push(proxy);
    const url = `ws://127.0.0.1:${await proxy.listen()}/ws`;
    const c = connect(url, { resume: true, reconnect: { initialDelay: 20, maxDelay: 50, jitter: 'none' } });
    clients.push(c);
    const got: string[] = [];
    const statuses: ClientStatus[] = [];
    c.messages$.subscribe((m) => got.push(String(m)));
    c.status$.subscribe((s) => statuses.push(s));
    await opened(c);
    return { client: c, proxy, got, statuses };
  };

  /** A hub that only publishes (a third process); it trims the history as its `history` says. */
  const publisher = async (history?: RedisHistoryOptions) => {
    const hub = hubOn(history);
    await connected(hub);
    return hub;
  };

  const range = (prefix: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

  it('gives a client that comes back to another process what was published while it was away, in order, once, then live', async () => {
    const [a, b] = [await node(), await node()];
    const p = await publisher();
    const { client: c, proxy, got, statuses } = await client(a);
    await waitUntil(() => a.hub.members('room').size === 1 && a.errors.length === 0);
    await delay(100); // the session's first read of the topic: it starts here

    for (const m of range('a', 0, 10)) p.publish('room', m);
    await waitUntil(() => got.length === 10);

    // A goes away (its connections cut; nothing more reaches the client from it), the balancer sends the client to B.
    const dead = await deadPort();
    proxy.retarget(dead);
    proxy.cut();
    await delay(100);
    for (const m of range('b', 0, 20)) p.publish('room', m); // while the client is away
    await delay(100);
    proxy.retarget(b.port);

    await waitUntil(() => got.length === 30);
    const open = statuses.filter((s) => s.state === 'open');
    expect(open.at(-1)!.session).toEqual({ state: 'new', why: 'unknown' });
    const [session] = b.sessions;
    expect(session!.predecessor).toEqual({ id: a.sessions[0]!.id, received: 10, why: 'unknown' });
    expect(session!.lineage).toBe(a.sessions[0]!.lineage);
    expect(session!.id).not.toBe(a.sessions[0]!.id);
    expect(b.hub.members('room').has(session!)).toBe(true);

    for (const m of range('c', 0, 5)) p.publish('room', m);
    await waitUntil(() => got.length === 35);
    await delay(150); // room for a duplicate
    expect(got).toEqual([...range('a', 0, 10), ...range('b', 0, 20), ...range('c', 0, 5)]);
    expect(b.errors).toEqual([]);
    c.close();
  });

  it('neither repeats nor skips a message published while the session moves (history, then live, joined by entry id)', async () => {
    const [a, b] = [await node(), await node()];
    const p = await publisher();
    const { got, proxy } = await client(a);
    await delay(100);
    let i = 0;
    let timer = setInterval(() => p.publish('room', String(i++)), 2);
    await waitUntil(() => got.length >= 50);
    // A pause, so that A has stored where the client is (a crash in the last positionsInterval may repeat messages).
    clearInterval(timer);
    await delay(150);
    proxy.retarget(b.port);
    proxy.cut();
    // Published on: while the client is away, while B reads the history, and live.
    timer = setInterval(() => p.publish('room', String(i++)), 2);
    await waitUntil(() => b.sessions.length === 1);
    await delay(200);
    clearInterval(timer);
    const total = i;
    await waitUntil(() => got.length >= total);
    await delay(150);
    expect(got).toEqual(Array.from({ length: total }, (_, k) => String(k)));
    expect(b.errors).toEqual([]);
  });

  it('reports the messages the stream no longer holds, and delivers the rest in order', async () => {
    const history = { maxLen: 10 };
    const [a, b] = [await node(history), await node(history)];
    const p = await publisher(history);
    const { got, proxy } = await client(a);
    await delay(100);
    p.publish('room', 'first');
    await waitUntil(() => got.length === 1);
    await delay(100); // its position stored

    proxy.retarget(await deadPort());
    proxy.cut();
    const missed = range('m', 0, 300);
    for (const m of missed) p.publish('room', m);
    await delay(200);
    proxy.retarget(b.port);

    await waitUntil(() => got.at(-1) === 'm299');
    const kept = got.slice(1);
    // What the stream kept: the newest, at least maxLen (Redis trims in whole blocks), in order.
    expect(kept.length).toBeGreaterThanOrEqual(10);
    expect(kept).toEqual(missed.slice(300 - kept.length));
    expect(b.errors).toEqual([expect.any(HistoryGapError)]);
    const gap = b.errors[0] as HistoryGapError;
    expect(gap).toMatchObject({ code: 'RXJS_WS_HISTORY_GAP', topic: 'room', missed: 300 - kept.length, session: b.sessions[0] });
  });

  it('skips a session\'s own messages (except) in the history too, and other processes\' members get them', async () => {
    const [a, b] = [await node(), await node()];
    const { client: c, got, proxy } = await client(a);
    const other = await client(a);
    await delay(100);
    c.next('mine');
    await waitUntil(() => other.got.includes('mine'));
    proxy.retarget(await deadPort());
    proxy.cut();
    other.client.next('theirs');
    await delay(200);
    proxy.retarget(b.port);
    await waitUntil(() => got.includes('theirs'));
    await delay(150);
    expect(got).toEqual(['theirs']);
  });

  it('forgets a session that ended: a client coming back after the ttl starts afresh, without the history', async () => {
    const [a, b] = [await node(), await node()];
    const p = await publisher();
    const { got, proxy, statuses } = await client(a);
    await delay(100);
    p.publish('room', 'before');
    await waitUntil(() => got.length === 1);
    proxy.retarget(await deadPort());
    proxy.cut();
    p.publish('room', 'away');
    await waitUntil(() => a.sessions[0]!.closeInfo !== null, undefined, TTL + 2000); // expired on A, which let its positions go
    proxy.retarget(b.port);
    await waitUntil(() => b.sessions.length === 1);
    await delay(200);
    p.publish('room', 'after');
    await waitUntil(() => got.includes('after'));
    expect(got).toEqual(['before', 'after']);
    expect(statuses.filter((s) => s.state === 'open').at(-1)!.session).toEqual({ state: 'new', why: 'unknown' });
    expect(b.sessions[0]!.predecessor?.why).toBe('unknown');

  });

  it('stores positions exactly when the hub closes: what was handed over and not yet confirmed counts by what the client says it took', async () => {
    const [a, b] = [await node(), await node()];
    const p = await publisher();
    const { got, proxy } = await client(a);
    await delay(100);
    for (const m of range('x', 0, 100)) p.publish('room', m);
    await waitUntil(() => got.length === 100);
    proxy.retarget(await deadPort());
    proxy.cut(); // before the client's last acknowledgement, most likely
    await a.hub.close(); // the positions, and what is pending
    for (const m of range('y', 0, 5)) p.publish('room', m);
    proxy.retarget(b.port);
    await waitUntil(() => got.length >= 105);
    await delay(150);
    expect(got).toEqual([...range('x', 0, 100), ...range('y', 0, 5)]);
  });

  it('hands sessions off with server.close({ handOff }): the clients come back with them, and their topics go on exactly', async () => {
    const [a, b] = [await node(), await node()];
    const p = await publisher();
    const { got, proxy, statuses } = await client(a);
    await delay(100);
    for (const m of range('x', 0, 100)) p.publish('room', m);
    await waitUntil(() => got.length === 100);
    proxy.retarget(b.port);
    await a.server.close({ handOff: true }); // the hub still open: it stores the session's place as it ends
    expect(a.sessions[0]!.handedOff).toBe(true);
    expect(a.sessions[0]!.closeInfo).toMatchObject({ code: 1001 });
    for (const m of range('y', 0, 5)) p.publish('room', m);
    await waitUntil(() => got.length >= 105);
    await delay(150);
    expect(got).toEqual([...range('x', 0, 100), ...range('y', 0, 5)]);
    expect(statuses.filter((s) => s.state === 'open').at(-1)!.session).toEqual({ state: 'new', why: 'unknown' });
    expect(b.sessions[0]!.predecessor).toMatchObject({ id: a.sessions[0]!.id, received: 100 });
  });

  it('sessions of one process without history: the hub treats them as sockets', async () => {
    const { server, port } = await listen({ path: '/ws', resume: { ttl: TTL } });
    const hub = createHub();
    server.sessions$.subscribe((session) => hub.join(session, 'room'));
    const c = connect(`ws://127.0.0.1:${port}/ws`, { resume: true });
    clients.push(c);
    const got: string[] = [];
    c.messages$.subscribe((m) => got.push(String(m)));
    await opened(c);
    await waitUntil(() => hub.members('room').size === 1);
    expect(hub.publish('room', 'at once')).toBe(1);
    await waitUntil(() => got.length === 1);
    c.close();
    await waitUntil(() => hub.members('room').size === 0);
    await hub.close();
  });
});

function connected(hub: Hub): Promise<unknown> {
  return firstValueFrom(hub.status$.pipe(filter((s) => s.state === 'connected')));
}

function opened(client: RxClient): Promise<unknown> {
  return firstValueFrom(client.status$.pipe(filter((s) => s.state === 'open')));
}
