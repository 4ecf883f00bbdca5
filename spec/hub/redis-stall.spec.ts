/**
 * The Redis adapter against a redis-server that stops answering but keeps
 * its connections: frozen with SIGSTOP, as a stalled or swapped-out server
 * would be. Nothing tells the hub Redis is gone, so its status stays
 * `connected`; what it publishes meanwhile must stay within its bounds (a
 * window in flight, the queue in all), and delivery must resume once Redis
 * runs again (SIGCONT).
 */
import Redis from 'ioredis';
import { filter, firstValueFrom } from 'rxjs';
import type { RxjsWsError } from '../../src';
import { AdapterOverflowError, createHub, type Hub } from '../../src/hub/hub';
import { redisAdapter, type RedisAdapterOptions } from '../../src/hub/redis';
import { startRedis, type RedisServer } from '../e2e/peers/redis-server';
import { fakeSocket } from '../support/fake';

describe('redisAdapter({ inflight })', () => {
  it('validates the window when called', () => {
    expect(() => redisAdapter({ inflight: { maxMessages: 0 } })).toThrow('Expected `inflight.maxMessages` to be an integer >= 1, got `0` (number)');
    expect(() => redisAdapter({ inflight: { maxBytes: 1.5 } })).toThrow('Expected `inflight.maxBytes` to be an integer >= 1, got `1.5` (number)');
    expect(() => redisAdapter({ inflight: 7 as never })).toThrow('Expected `inflight` to be an object');
  });
});

describe('hubs on a redis-server frozen with SIGSTOP', () => {
  let redis: RedisServer;
  let pid: number;
  let admin: Redis;
  const hubs: Hub[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    pid = Number(/^process_id:(\d+)/m.exec(await admin.info('server'))![1]);
  });
  afterEach(async () => {
    process.kill(pid, 'SIGCONT'); // whatever a test left frozen
    await Promise.all(hubs.splice(0).map((hub) => hub.close()));
  });
  afterAll(async () => {
    admin.disconnect();
    await redis.stop();
  });

  const hub = (options: RedisAdapterOptions = {}) => {
    const created = createHub({
      adapter: redisAdapter({ url: redis.url, backoff: { initialDelay: 50, maxDelay: 200 }, closeTimeout: 200, ...options }),
      presenceInterval: 60_000, // no presence traffic in the middle of what is counted
    });
    hubs.push(created);
    return created;
  };
  const member = (on: Hub) => {
    const { socket, fake } = fakeSocket();
    on.join(socket, 'room');
    return () => fake.sent.map((frame) => String(frame.data));
  };
  /** Counts what reaches Redis on the room's channel from now on (presence has channels of its own). */
  const roomSpy = async () => {
    const spy = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    let count = 0;
    spy.on('message', (channel: string) => channel === 'rxjs-ws:room' && count++);
    await spy.subscribe('rxjs-ws:room');
    return {
      /** Once `expected` have come, and a moment for any more: how many came. */
      settled: async (expected: number) => {
        await waitFor(() => count >= expected);
        await sleep(100);
        spy.disconnect();
        return count;
      },
    };
  };

  it('keeps at most the window in flight and the bound in all while Redis is frozen, drops the oldest with one report, and delivers again after SIGCONT', async () => {
    const a = hub({ inflight: { maxMessages: 50, maxBytes: 1 << 20 }, offline: { maxMessages: 200, maxBytes: 8 << 20 } });
    const b = hub();
    await Promise.all([a, b].map(connected));
    const [onA, onB] = [member(a), member(b)];
    await waitFor(() => a.members('room').size === 1 && b.stats.topics === 1);
    a.publish('room', 'before');
    await waitFor(() => onB().includes('before'));
    const errors: RxjsWsError[] = [];
    a.errors$.subscribe((error) => errors.push(error));
    const spy = await roomSpy();

    process.kill(pid, 'SIGSTOP');
    const body = 'x'.repeat(1000);
    for (let i = 0; i < 2000; i++) a.publish('room', `m${i} ${body}`);
    // Local delivery, at once; for Redis, the window (50) and the rest of the bound (150): the oldest waiting went.
    expect(onA()).toHaveLength(2001);
    expect(a.stats.adapter).toMatchObject({ queued: 200, dropped: 1800 });
    await sleep(500);
    expect(a.stats.adapter).toMatchObject({ queued: 200, dropped: 1800 });
    const statuses: string[] = [];
    a.status$.subscribe((s) => statuses.push(s.state));
    expect(statuses).toEqual(['connected']); // nothing told the hub
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(AdapterOverflowError);
    expect(errors[0]).toMatchObject({ code: 'RXJS_WS_ADAPTER_OVERFLOW', dropped: 1, limits: { maxMessages: 200, maxBytes: 8 << 20 } });

    process.kill(pid, 'SIGCONT');
    await waitFor(() => a.stats.adapter.queued === 0);
    a.publish('room', 'after');
    await waitFor(() => onB().includes('after'));
    // b got the window (m0–m49), then the newest 150 (m1850–m1999), in order; the dropped ones never left a.
    const expected = [...Array.from({ length: 50 }, (_, i) => i), ...Array.from({ length: 150 }, (_, i) => 1850 + i)].map((i) => `m${i}`);
    expect(onB().map((f) => f.split(' ')[0])).toEqual(['before', ...expected, 'after']);
    expect(await spy.settled(201)).toBe(201); // the window, the newest 150 and 'after': the dropped ones never reached Redis
    expect(a.stats.adapter).toMatchObject({ queued: 0, dropped: 1800 });
    expect(errors).toHaveLength(1);
  });

  it('with the default bounds, holds at most 8 MiB for a frozen Redis however much is published', async () => {
    const a = hub();
    await connected(a);
    const spy = await roomSpy();
    process.kill(pid, 'SIGSTOP');
    const body = 'y'.repeat(4096);
    for (let i = 0; i < 20_000; i++) a.publish('room', body); // 80 MiB
    const { queued, dropped } = a.stats.adapter;
    // Envelopes carry a few dozen bytes besides the message: 8 MiB holds a little under 2,048 of them.
    expect(queued).toBeGreaterThan(1900);
    expect(queued).toBeLessThanOrEqual(2048);
    expect(dropped).toBe(20_000 - queued);
    process.kill(pid, 'SIGCONT');
    await waitFor(() => a.stats.adapter.queued === 0);
    expect(await spy.settled(queued)).toBe(queued);
  });

  it('closes within its deadlines while Redis is frozen, counting what Redis did not take', async () => {
    const a = hub({ closeTimeout: 200 });
    await connected(a);
    process.kill(pid, 'SIGSTOP');
    for (let i = 0; i < 10; i++) a.publish('room', `m${i}`);
    const started = Date.now();
    await a.close();
    // closeTimeout for the queue, at least a second for QUIT, then ioredis's 2 s to close a connection nobody answers.
    expect(Date.now() - started).toBeLessThan(4000);
    expect(a.stats.adapter).toMatchObject({ queued: 0, dropped: 10 });
  });
});

function connected(hub: Hub) {
  return firstValueFrom(hub.status$.pipe(filter((s) => s.state === 'connected')));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await sleep(10);
  }
}
