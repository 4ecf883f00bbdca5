/**
 * Review: the observability feature (issue 17) — counters exact, logs bounded.
 */
import type { LogEvent, RxSocket } from '../../src';
import { listen, open, closed, upgradeStatus } from '../support/net';
import { until } from '../support/raw';

describe('review: server metrics count every frame once', () => {
  it('frames left unsent when a socket closes are in messages.dropped, as the socket counts them', async () => {
    const { server, url } = await listen({ heartbeat: false, outbound: { policy: 'error', maxMessages: 10_000, maxBytes: 64 << 20 } });
    const sockets: RxSocket<undefined>[] = [];
    server.connections$.subscribe((socket) => sockets.push(socket));
    const client = await open(url());
    await until(() => sockets.length === 1, 'the socket');
    (client as unknown as { _socket: { pause(): void } })._socket.pause(); // reads nothing: the queue fills
    const frame = Buffer.alloc(64 * 1024);
    for (let i = 0; i < 300; i++) sockets[0]!.next(frame);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const gone = closed(client);
    client.terminate();
    await gone;
    await until(() => server.sockets.size === 0, 'the close seen by the server');
    const dropped = sockets[0]!.stats.dropped;
    expect(dropped).toBeGreaterThan(0);
    expect(server.metrics().messages.dropped).toBe(dropped);
  });

  it('a frame sent to a socket after it closed is in messages.refused, as the socket counts it', async () => {
    const { server, url } = await listen({ heartbeat: false });
    const sockets: RxSocket<undefined>[] = [];
    server.connections$.subscribe((socket) => sockets.push(socket));
    const client = await open(url());
    await until(() => sockets.length === 1, 'the socket');
    const gone = closed(client);
    client.close(1000);
    await gone;
    await until(() => server.sockets.size === 0, 'the close seen by the server');
    sockets[0]!.next('late');
    expect(sockets[0]!.stats.refused).toBe(1);
    expect(server.metrics().messages.refused).toBe(1);
  });
});

describe('review: prometheus() on a registry that has some of its names', () => {
  it('fails whole: a clash registers nothing, so the next try (or a scrape) is not left half-registered', () => {
    const { Registry } = require('prom-client') as typeof import('prom-client');
    const { prometheus } = require('../../src/prometheus') as typeof import('../../src/prometheus');
    const { createHub } = require('../../src') as typeof import('../../src');
    const registry = new Registry();
    const hub = createHub();
    const first = prometheus({ registry, hub });
    const server = { metrics: () => ({}) as never };
    expect(() => prometheus({ registry, server, hub })).toThrow(/rxjs_ws_hub_topics/);
    expect(registry.getMetricsAsArray().map((m) => m.name).sort()).toEqual([...first.names].sort());
    first.unregister();
    expect(() => prometheus({ registry, server, hub }).unregister()).not.toThrow();
    void hub.close();
  });
});

describe('review: log events are bounded', () => {
  const long = '/' + 'p'.repeat(8000);

  it('an upgrade refused for a long path logs a bounded path, line and detail', async () => {
    const logged: { line: string; event: LogEvent }[] = [];
    const { url } = await listen({ path: '/ws', heartbeat: false, origin: ['https://ok.example'], log: (line, event) => logged.push({ line, event }) });
    expect((await upgradeStatus(url(long))).status).toBe(404);
    expect((await upgradeStatus(url(), { Origin: 'https://' + 'o'.repeat(8000) })).status).toBe(403);
    expect(logged).toHaveLength(2);
    for (const { line, event } of logged) {
      expect(line.length).toBeLessThan(600);
      expect(JSON.stringify(event).length).toBeLessThan(1000);
    }
    expect((logged[0]!.event as { path: string }).path.startsWith('/ppp')).toBe(true);
  });

  it('a socket opened on a long path (no `path` option) logs a bounded path when it ends', async () => {
    const events: LogEvent[] = [];
    const { server, url } = await listen({ heartbeat: false, log: (_line, event) => events.push(event) });
    const client = await open(url(long + '?token=secret'));
    await until(() => server.sockets.size === 1, 'the socket');
    client.terminate();
    await until(() => events.some((e) => e.event === 'socket-closed'), 'the close logged');
    const event = events.find((e) => e.event === 'socket-closed') as { path: string };
    expect(event.path.length).toBeLessThan(300);
    expect(JSON.stringify(event)).not.toContain('secret');
  });
});

describe("review: the examples' GET /metrics", () => {
  it('does not walk every socket for each request: a burst of scrapes reads the server once', async () => {
    const { ExampleMetrics } = require('../../examples/metrics') as typeof import('../../examples/metrics');
    const { NEVER } = require('rxjs') as typeof import('rxjs');
    const { listen } = require('../support/net') as typeof import('../support/net');
    const real = (await listen({ heartbeat: false })).server;
    let reads = 0;
    const server = { metrics: () => (reads++, real.metrics()), metrics$: () => NEVER };
    const metrics = new ExampleMetrics(server);
    const bodies: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = { writeHead: () => res, end: (body: string) => bodies.push(body) } as unknown as import('node:http').ServerResponse;
      expect(metrics.serve('/metrics', res, false)).toBe(true);
      await new Promise((resolve) => setImmediate(resolve)); // each request in a turn of its own
    }
    await until(() => bodies.length === 20, 'twenty answers');
    expect(bodies.every((b) => b.includes('rxjs_ws_open_sockets 0'))).toBe(true);
    expect(reads).toBe(1);
  });
});
