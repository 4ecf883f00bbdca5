/**
 * The Redis adapter against a real redis-server (started here on a free
 * port, nothing persisted): two hubs in one process stand for two processes,
 * each with its own two connections. The three-process chat is in
 * spec/e2e/chat-redis.e2e.spec.ts.
 */
import Redis from 'ioredis';
import { filter, firstValueFrom, type Observable } from 'rxjs';
import { InvalidArgumentError, type RxjsWsError } from '../../src';
import { AdapterRefusedError, createHub, type Hub } from '../../src/hub/hub';
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
    expect(() => redisAdapter({ retries: 1.5 })).toThrow('Expected `retries` to be an integer >= 0, got `1.5` (number)');
  });
});

describe('hubs on a real redis-server', () => {
  let redis: RedisServer;
  const hubs: Hub[] = [];
  const clients: Redis[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(hubs.splice(0).map((hub) => hub.close()));
    if (!redis.running) await redis.restart(); // a test that failed half-way through an outage
    else {
      // What a test changed: channel permissions, the busy-script threshold.
      const admin = client();
      await admin.call('SCRIPT', 'KILL').catch(() => {});
      await admin.call('ACL', 'SETUSER', 'default', 'allchannels');
      await admin.call('CONFIG', 'SET', 'busy-reply-threshold', '5000');
    }
    clients.splice(0).forEach((c) => c.disconnect());
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
  /** A plain client, for what a test does to the server (ACL, scripts). */
  const client = () => {
    const created = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    clients.push(created);
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

  describe('when Redis answers with an error', () => {
    it('counts a publish Redis refuses (NOPERM) as dropped, and does not hold back what Redis took after it', async () => {
      await client().call('ACL', 'SETUSER', 'default', 'resetchannels', '&rxjs-ws:room*'); // any other channel: NOPERM
      const [a, b] = [hub(), hub()];
      await Promise.all([a, b].map(connected));
      const onB = member(b);
      await until(a.members$('room'), (n) => n === 1); // b's subscription is in place
      const errors = collectErrors(a);

      a.publish('secret', 'refused');
      for (let i = 0; i < 50; i++) a.publish('room', `m${i}`);
      await waitFor(() => onB().length === 50 && a.stats.adapter.published >= 50);
      expect(onB()).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
      expect(a.stats.adapter).toMatchObject({ queued: 0, dropped: 1, refused: 1 });
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(AdapterRefusedError);
      expect(errors[0]).toMatchObject({ code: 'RXJS_WS_ADAPTER_REFUSED', operation: 'publish', topic: 'secret' });
      expect(String((errors[0]!.cause as Error).message)).toMatch(/^NOPERM/);

      await a.close();
      expect(a.stats.adapter).toMatchObject({ queued: 0, dropped: 1, refused: 1 }); // not the 50 Redis took
    });

    it('sends a publish refused while a script runs (BUSY) again, in order, and delivers it once', async () => {
      const a = hub({ backoff: { initialDelay: 50, maxDelay: 200, jitter: 'none' } });
      const b = hub();
      await Promise.all([a, b].map(connected));
      const onB = member(b);
      await until(a.members$('room'), (n) => n === 1);
      const errors = collectErrors(a);
      const admin = client();
      await admin.call('CONFIG', 'SET', 'busy-reply-threshold', '50');
      const script = client().eval('while true do end', 0).catch(() => 'killed');
      await sleep(150); // past the threshold: Redis answers every command with BUSY

      for (let i = 0; i < 3; i++) a.publish('room', `busy ${i}`);
      await sleep(100); // refused at least once
      await admin.call('SCRIPT', 'KILL');
      expect(await script).toBe('killed');

      await waitFor(() => onB().length >= 3, 3000);
      a.publish('room', 'after');
      await waitFor(() => onB().includes('after'), 3000);
      expect(onB()).toEqual(['busy 0', 'busy 1', 'busy 2', 'after']);
      expect(a.stats.adapter).toMatchObject({ queued: 0, dropped: 0, refused: 0 });
      expect(errors).toEqual([]);
    });

    it('gives a publish up after `retries` transient refusals, counted and reported', async () => {
      const a = hub({ retries: 2, backoff: { initialDelay: 20, maxDelay: 20, jitter: 'none' } });
      await connected(a);
      const errors = collectErrors(a);
      const admin = client();
      await admin.call('CONFIG', 'SET', 'busy-reply-threshold', '50');
      const script = client().eval('while true do end', 0).catch(() => 'killed');
      await sleep(150);
      a.publish('room', 'never');
      await waitFor(() => a.stats.adapter.dropped === 1, 3000); // three BUSY answers, 20 ms apart
      await admin.call('SCRIPT', 'KILL');
      await script;
      expect(a.stats.adapter).toMatchObject({ queued: 0, dropped: 1, refused: 1 });
      expect(errors).toEqual([expect.objectContaining({ operation: 'publish', topic: 'room' })]);
      expect(String((errors[0]!.cause as Error).message)).toMatch(/^BUSY/);
    });

    it('keeps receiving every other topic when Redis refuses to subscribe one, also after a reconnect', async () => {
      await client().call('ACL', 'SETUSER', 'default', 'resetchannels', '&rxjs-ws:room*');
      const [a, b] = [hub(), hub()];
      await Promise.all([a, b].map(connected));
      const errors = collectErrors(b);
      const onB = member(b);
      member(b, 'secret'); // Redis refuses to subscribe rxjs-ws:secret
      await until(a.members$('room'), (n) => n === 1);
      // (b's presence announcements on "secret" are refused too: publishes, counted.)
      const subscribes = () => errors.filter((e) => (e as AdapterRefusedError).operation === 'subscribe');
      await waitFor(() => subscribes().length === 1);

      // The subscriber connections drop and subscribe every topic again.
      await client().call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await until(b.status$, (s) => s.state === 'reconnecting');
      await within(connected(b), 3000, 'b connected again');
      await within(until(a.members$('room'), (n) => n === 1), 3000, 'a counts b again');
      a.publish('room', 'after the reconnect');
      await waitFor(() => onB().includes('after the reconnect'), 3000);
      // Refused on the first subscribe and again on the reconnect.
      expect(subscribes()).toEqual([
        expect.objectContaining({ code: 'RXJS_WS_ADAPTER_REFUSED', operation: 'subscribe', topic: 'secret' }),
        expect.objectContaining({ operation: 'subscribe', topic: 'secret' }),
      ]);
    });
  });

  it('counts as dropped at close only what Redis did not take, even with closeTimeout 0', async () => {
    const [a, b] = [hub({ closeTimeout: 0 }), hub()];
    await Promise.all([a, b].map(connected));
    const onB = member(b);
    await until(a.members$('room'), (n) => n === 1);
    for (let i = 0; i < 5000; i++) a.publish('room', `m${i}`);
    await a.close(); // the connection is up: Redis takes every one before the QUIT that follows them
    await waitFor(() => onB().length === 5000);
    expect(a.stats.adapter).toMatchObject({ queued: 0, dropped: 0 });
    expect(a.stats.adapter.published).toBeGreaterThanOrEqual(5000);
  });

  it('does not keep publishes whose command timed out once Redis has answered them (commandTimeout)', async () => {
    const a = hub({ redisOptions: { commandTimeout: 50 } });
    const b = hub();
    await Promise.all([a, b].map(connected));
    const onB = member(b);
    await until(a.members$('room'), (n) => n === 1);
    // Redis answers nobody for 300 ms (under the busy threshold: no BUSY replies, just a wait).
    const stall = client().eval(
      "local t = redis.call('TIME') local start = t[1] * 1000000 + t[2] repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - start > 300000",
      0,
    );
    await sleep(20);
    for (let i = 0; i < 3; i++) a.publish('room', `slow ${i}`); // their promises time out after 50 ms
    await stall;
    a.publish('room', 'after');
    await waitFor(() => onB().includes('after'));
    expect(onB()).toEqual(['slow 0', 'slow 1', 'slow 2', 'after']);
    await waitFor(() => a.stats.adapter.queued === 0, 2000);
    await a.close();
    expect(a.stats.adapter.dropped).toBe(0);
  });
});

function collectErrors(hub: Hub): RxjsWsError[] {
  const errors: RxjsWsError[] = [];
  hub.errors$.subscribe((error) => errors.push(error));
  return errors;
}

function connected(hub: Hub): Promise<HubStatus> {
  return until(hub.status$, (status) => status.state === 'connected');
}

function until<T>(source: Observable<T>, predicate: (value: T) => boolean): Promise<T> {
  return firstValueFrom(source.pipe(filter(predicate)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`, or a failure naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
