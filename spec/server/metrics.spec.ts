import { firstValueFrom, map, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { WebSocket } from 'ws';
import { InvalidArgumentError, serve, type LogEvent, type RxSocket, type ServerMetrics } from '../../src';
import { closeClass } from '../../src/server/metrics';
import { closed, get, listen, open, upgradeStatus } from '../support/net';
import { until } from '../support/raw';

/** Sends `count` text frames and waits until the server has read them all. */
async function sendAll(server: { metrics(): ServerMetrics }, clients: WebSocket[], count: number): Promise<void> {
  const before = server.metrics().messages.received;
  for (let i = 0; i < count; i++) clients[i % clients.length]!.send(`m${i}`);
  await until(() => server.metrics().messages.received === before + count, `${count} messages read`);
}

describe('server.metrics()', () => {
  it('moves exactly with the traffic: 3 open, 5 in, one closed with 4000 -> 2 open, 5 in, 4xxx: 1', async () => {
    const { server, url } = await listen({ heartbeat: false });
    server.connections$.subscribe((socket) => socket.messages$.subscribe()); // read, do not answer
    const clients = [await open(url()), await open(url()), await open(url())];
    await until(() => server.sockets.size === 3, '3 sockets');
    await sendAll(server, clients, 5);
    const gone = closed(clients[0]!);
    clients[0]!.close(4000, 'bye');
    await gone;
    await until(() => server.sockets.size === 2, 'the close seen by the server');

    const m = server.metrics();
    expect(m.open).toBe(2);
    expect(m.upgrades.accepted).toBe(3);
    expect(m.messages).toEqual({ received: 5, sent: 0, refused: 0, dropped: 0, discarded: 0 });
    expect(m.closes).toEqual({ '4xxx': 1 });
    expect(m.bytes.received).toBeGreaterThan(5 * 8); // the upgrades' HTTP and five masked frames
    expect(m.bytes.sent).toBeGreaterThan(0); // the 101 answers
    expect(m.outbound).toEqual({ queuedBytes: 0, maxQueuedBytes: 0 });
    expect(m.memory).toEqual({ used: 0, limit: expect.any(Number), evictions: 0 });
    expect(Object.values(m.upgrades.refused).every((n) => n === 0)).toBe(true);
  });

  it('keeps the counts of closed sockets: sent, and the 1000s, add up after every socket is gone', async () => {
    const { server, url } = await listen({ heartbeat: false });
    server.connections$.subscribe((socket) => socket.messages$.subscribe(socket)); // echo
    const clients = [await open(url()), await open(url())];
    await sendAll(server, clients, 4);
    await until(() => server.metrics().messages.sent === 4, 'the echoes');
    const before = server.metrics();
    await Promise.all(clients.map((ws) => (ws.close(1000), closed(ws))));
    await until(() => server.sockets.size === 0, 'both closes');
    const after = server.metrics();
    expect(after.messages).toEqual(before.messages);
    expect(after.closes).toEqual({ '1000': 2 });
    expect(after.bytes.received).toBeGreaterThanOrEqual(before.bytes.received);
  });

  it('counts refused upgrades by reason, and tells the log the same reason', async () => {
    const events: LogEvent[] = [];
    const lines: string[] = [];
    const { server, url } = await listen({
      path: '/ws',
      heartbeat: false,
      maxConnections: 3,
      maxConnectionsPerAddress: 2,
      handshakesPerAddress: 1000,
      authenticate: (req) => !req.url!.includes('deny'),
      log: (line, event) => (lines.push(line), events.push(event)),
    });
    expect((await upgradeStatus(url('/nope'))).status).toBe(404);
    expect((await upgradeStatus(url(), { Origin: 'https://evil.example' })).status).toBe(403);
    expect((await upgradeStatus(url('/ws?deny'))).status).toBe(401);
    expect((await get(url().replace('ws:', 'http:'), { Connection: 'Upgrade', Upgrade: 'websocket' })).status).toBe(400);
    await open(url());
    await open(url());
    expect((await upgradeStatus(url())).status).toBe(503); // this address holds 2
    const m = server.metrics();
    expect(m.upgrades.refused).toEqual({
      'bad-handshake': 1,
      'not-found': 1,
      closing: 0,
      origin: 1,
      'max-connections': 0,
      'per-address': 1,
      'handshake-rate': 0,
      auth: 1,
    });
    expect(m.upgrades.accepted).toBe(2);
    expect(events.map((e) => (e.event === 'upgrade-refused' ? `${e.status} ${e.reason}` : e.event))).toEqual([
      '404 not-found',
      '403 origin',
      '401 auth',
      '400 bad-handshake',
      '503 per-address',
    ]);
    expect(events[2]).toEqual({ event: 'upgrade-refused', status: 401, reason: 'auth', detail: 'authenticate returned false', address: '127.0.0.1', path: '/ws' });
    expect(lines[2]).toBe('upgrade refused 401 from 127.0.0.1 /ws: authenticate returned false'); // the text line is today's
  });

  it('counts the global cap and the handshake rate', async () => {
    const capped = await listen({ heartbeat: false, maxConnections: 1 });
    await open(capped.url());
    expect((await upgradeStatus(capped.url())).status).toBe(503);
    expect(capped.server.metrics().upgrades.refused['max-connections']).toBe(1);

    const paced = await listen({ heartbeat: false, handshakesPerAddress: 1 });
    for (let i = 0; i < 3; i++) await upgradeStatus(paced.url());
    expect(paced.server.metrics().upgrades.refused['handshake-rate']).toBeGreaterThanOrEqual(1);
  });

  it('counts rate-limit hits and the 1008 they close with, with a structured event', async () => {
    const events: LogEvent[] = [];
    const { server, url } = await listen({ heartbeat: false, rateLimit: { messages: 2, policy: 'close' }, log: (_line, event) => events.push(event) });
    server.connections$.subscribe((socket) => socket.messages$.subscribe());
    const ws = await open(url('/ws?token=secret'));
    const gone = closed(ws);
    for (let i = 0; i < 5; i++) ws.send('x');
    expect((await gone).code).toBe(1008);
    await until(() => server.sockets.size === 0, 'the close');
    const m = server.metrics();
    expect(m.rateLimited).toBe(1);
    expect(m.closes).toEqual({ '1008': 1 });
    expect(m.messages.discarded).toBeGreaterThanOrEqual(1);
    expect(events).toEqual([{ event: 'socket-closed', code: 1008, reason: 'rate limit exceeded', address: '127.0.0.1', path: '/ws' }]);
  });

  it('counts each pause of the pause policy as a hit', async () => {
    const { server, url } = await listen({ heartbeat: false, rateLimit: { messages: 1, policy: 'pause' } });
    const got: string[] = [];
    server.connections$.subscribe((socket) => socket.messages$.subscribe((m) => got.push(m as string)));
    const ws = await open(url());
    ws.send('a');
    ws.send('b');
    await until(() => server.metrics().rateLimited === 1, 'a pause');
    ws.close();
  });

  it('sums the outbound queues and keeps the largest', async () => {
    const { server, url } = await listen({ heartbeat: false });
    const sockets: RxSocket[] = [];
    server.connections$.subscribe((socket) => sockets.push(socket));
    const clients = [await open(url()), await open(url())];
    await until(() => sockets.length === 2, 'two sockets');
    for (const ws of clients) ws.pause(); // they stop reading
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < 8; i++) sockets[0]!.next(chunk);
    sockets[1]!.next(chunk);
    const m = server.metrics();
    expect(m.outbound.queuedBytes).toBe(sockets[0]!.bufferedAmount + sockets[1]!.bufferedAmount);
    expect(m.outbound.maxQueuedBytes).toBe(sockets[0]!.bufferedAmount);
    expect(m.outbound.maxQueuedBytes).toBeGreaterThan(0);
    for (const ws of clients) ws.terminate();
  });

  it('counts heartbeat timeouts', async () => {
    const { server, url } = await listen({ heartbeat: { interval: 20, timeout: 20 } });
    const ws = await open(url(), { autoPong: false });
    await closed(ws);
    await until(() => server.sockets.size === 0, 'the timeout');
    expect(server.metrics().heartbeatTimeouts).toBe(1);
    expect(server.metrics().closes).toEqual({ '1006': 1 });
  });

  it('reports memory: null when the budget is off', async () => {
    const { server } = await listen({ memoryBudget: false });
    expect(server.metrics().memory).toBeNull();
  });
});

describe('server.metrics$()', () => {
  it('emits on subscription, then every interval, in virtual time', () => {
    const server = serve({ port: 0 });
    const testScheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    testScheduler.run(({ expectObservable }) => {
      const at = server.metrics$(1000).pipe(map((m) => m.at));
      expectObservable(at, '^ 3500ms !').toBe('a 999ms b 999ms c 999ms d', { a: 0, b: 1000, c: 2000, d: 3000 });
    });
    return server.close();
  });

  it('takes its time from the server scheduler by default, and validates the interval when called', () => {
    const testScheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    testScheduler.run(({ expectObservable }) => {
      const server = serve({ port: 0, scheduler: testScheduler });
      expectObservable(server.metrics$(250).pipe(map((m) => m.open)), '^ 600ms !').toBe('a 249ms a 249ms a', { a: 0 });
      void server.close();
    });
    const server = serve({ port: 0 });
    expect(() => server.metrics$(0)).toThrow(InvalidArgumentError);
    expect(() => server.metrics$(1.5)).toThrow(/interval/);
    return server.close();
  });

  it('completes when the server has closed, with a last snapshot; after that, one snapshot', async () => {
    const { server, url } = await listen({ heartbeat: false });
    await open(url());
    const all = firstValueFrom(server.metrics$(60_000).pipe(toArray()));
    await until(() => server.sockets.size === 1, 'a socket');
    await server.close();
    const snapshots = await all;
    expect(snapshots.map((m) => m.open)).toEqual([1, 0]);
    expect(snapshots[1]!.closes).toEqual({ '1001': 1 });
    expect((await firstValueFrom(server.metrics$(1000).pipe(toArray()))).length).toBe(1);
  });
});

describe('closeClass', () => {
  it('keeps the 1000-1015 codes, and groups the others by class (a bounded set of labels)', () => {
    expect([1000, 1006, 1015, 1016, 2000, 3000, 3999, 4000, 4999, 5000].map(closeClass)).toEqual([
      '1000',
      '1006',
      '1015',
      'other',
      'other',
      '3xxx',
      '3xxx',
      '4xxx',
      '4xxx',
      'other',
    ]);
  });
});
