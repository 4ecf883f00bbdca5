/**
 * The Redis adapter against a real redis-server (started here on a free
 * port, nothing persisted): two hubs in one process stand for two processes,
 * each with its own two connections. The three-process chat is in
 * spec/e2e/chat-redis.e2e.spec.ts.
 */
import { filter, firstValueFrom, type Observable } from 'rxjs';
import { InvalidArgumentError } from '../../src';
import { createHub, type Hub } from '../../src/hub/hub';
import type { HubStatus } from '../../src/hub/adapter';
import { redisAdapter, type RedisAdapterOptions } from '../../src/hub/redis';
import { startRedis, type RedisServer } from '../e2e/peers/redis-server';
import { fakeSocket } from '../support/fake';

describe('redisAdapter()', () => {
  it('validates its options when called', () => {
    expect(() => redisAdapter({ url: 'http://127.0.0.1' })).toThrow(
      'Expected `url` to be a redis:// or rediss:// URL, got `"http://127.0.0.1"` (string)',
    );
    expect(() => redisAdapter({ offline: { maxMessages: -1 } })).toThrow('Expected `offline.maxMessages` to be an integer >= 0, got `-1` (number)');
    expect(() => redisAdapter({ backoff: { initialDelay: -1 } })).toThrow(InvalidArgumentError);
    expect(() => redisAdapter({ prefix: 7 as never })).toThrow('Expected `prefix` to be a string, got `7` (number)');
  });
});

describe('hubs on a real redis-server', () => {
  let redis: RedisServer;
  const hubs: Hub[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(hubs.splice(0).map((hub) => hub.close()));
    if (!redis.running) await redis.restart(); // a test that failed half-way through an outage
  });
  afterAll(async () => {
    await redis.stop();
  });

  const hub = (options: RedisAdapterOptions = {}) => {
    const created = createHub({
      adapter: redisAdapter({ url: redis.url, backoff: { initialDelay: 50, maxDelay: 200 }, closeTimeout: 200, ...options }),
      presenceInterval: 500,
    });
    hubs.push(created);
    return created;
  };
  const member = (on: Hub, topic = 'room') => {
    const { socket, fake } = fakeSocket();
    on.join(socket, topic);
    // What the member got, as text (the fake records a prepared frame's payload).
    return () => fake.sent.map((frame) => String(frame.data));
  };

  it('delivers every message once to each member of each hub, in publish order per hub, and counts all members', async () => {
    const [a, b] = [hub(), hub()];
    await Promise.all([a, b].map(connected));
    const got = [member(a), member(a), member(b)];
    await Promise.all([until(a.members$('room'), (n) => n === 3), until(b.members$('room'), (n) => n === 3)]);

    for (let i = 0; i < 200; i++) (i % 2 === 0 ? a : b).publish('room', `${i % 2 === 0 ? 'a' : 'b'}${i >> 1}`);
    await waitFor(() => got.every((frames) => frames().length >= 200));
    await new Promise((resolve) => setTimeout(resolve, 100)); // room for a duplicate to show up
    const inOrder = (from: string) => Array.from({ length: 100 }, (_, i) => `${from}${i}`);
    for (const frames of got) {
      expect(frames()).toHaveLength(200);
      expect(frames().filter((f) => f.startsWith('a'))).toEqual(inOrder('a'));
      expect(frames().filter((f) => f.startsWith('b'))).toEqual(inOrder('b'));
    }
    expect(a.stats).toMatchObject({ published: 100, received: 100, duplicates: 0 });
    expect(a.stats.adapter.dropped).toBe(0);

    await b.close();
    expect(await until(a.members$('room'), (n) => n === 2)).toBe(2); // b said goodbye
  });

  it('keeps serving local members while Redis is down, queues boundedly, and resumes after a restart', async () => {
    const [a, b] = [hub({ offline: { maxMessages: 3 } }), hub()];
    await Promise.all([a, b].map(connected));
    const [onA, onB] = [member(a), member(b)];
    await until(b.members$('room'), (n) => n === 2);
    const seen: HubStatus[] = [];
    a.status$.subscribe((status) => seen.push(status));

    await redis.kill();
    const lost = await until(a.status$, (s) => s.state === 'reconnecting');
    expect(lost).toMatchObject({ state: 'reconnecting', attempt: 1 });
    for (let i = 0; i < 5; i++) a.publish('room', `down ${i}`);
    expect(onA()).toEqual(['down 0', 'down 1', 'down 2', 'down 3', 'down 4']); // local delivery, at once
    // The bound: the oldest two gave way (once the publishing connection, too, has seen the outage).
    await waitFor(() => a.stats.adapter.dropped === 2);
    expect(a.stats.adapter).toMatchObject({ queued: 3, dropped: 2 });

    await redis.restart();
    await Promise.all([a, b].map(connected));
    expect(seen.at(-1)).toMatchObject({ state: 'connected' });
    expect((seen.at(-1) as { attempts: number }).attempts).toBeGreaterThanOrEqual(1);
    await waitFor(() => a.stats.adapter.queued === 0); // the three went out and were acknowledged
    expect(a.stats.adapter).toMatchObject({ dropped: 2 });

    a.publish('room', 'back');
    await waitFor(() => onB().includes('back'));
    // Whatever of the outage reached b (it may have resubscribed after a's flush) came once, in order, newest three at most.
    const early = onB().filter((f) => f.startsWith('down'));
    expect(['down 2', 'down 3', 'down 4'].filter((f) => early.includes(f))).toEqual(early);
    expect(onB().at(-1)).toBe('back');
  });

  it('closes within closeTimeout while Redis is down, counting what it could not send', async () => {
    const a = hub();
    await connected(a);
    await redis.kill();
    await until(a.status$, (s) => s.state === 'reconnecting');
    a.publish('room', 'never sent');
    const started = Date.now();
    await a.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(a.stats.adapter).toMatchObject({ queued: 0, dropped: 1 });
  });
});

function connected(hub: Hub): Promise<HubStatus> {
  return until(hub.status$, (status) => status.state === 'connected');
}

function until<T>(source: Observable<T>, predicate: (value: T) => boolean): Promise<T> {
  return firstValueFrom(source.pipe(filter(predicate)));
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
