/**
 * Per-connection inbound rate limit:
 *
 *   serve({ rateLimit: { messages?: number, bytes?: number, policy?: 'close' | 'pause' } })
 *
 * - `messages`: inbound messages per second per socket; `bytes`: inbound
 *   payload bytes per second per socket. Either or both.
 * - `policy: 'close'` (the default): a socket that exceeds a limit is closed
 *   with 1008 (POLICY_VIOLATION), and the server logs one line.
 * - `policy: 'pause'`: the socket stops reading until the budget refills; the
 *   excess is delayed, never lost: every message is delivered (here, echoed),
 *   in order, at most at the limited rate.
 *
 * What the tests assume of the budget: it allows a burst of at most one
 * second's worth (a token bucket of capacity `rate`, or a fixed one-second
 * window), so that k messages never arrive faster than `rate * t + rate`.
 */
import type { WebSocket } from 'ws';
import { CloseCode, InvalidArgumentError, serve, type CloseInfo, type RxServer, type ServeOptions } from '../../src';
import { closed as closedForever, delay, listen, nextMessage, open } from '../support/net';
import { trapEscapes, until } from '../support/raw';

trapEscapes();

/** The planned option. */
interface RateLimitOptions {
  readonly messages?: number;
  readonly bytes?: number;
  readonly policy?: 'close' | 'pause';
}
type PlannedOptions = Omit<ServeOptions<unknown>, 'port'> & { readonly rateLimit?: RateLimitOptions };

/** The close a client sees, or a rejection after `ms` (so that a missing limit fails fast instead of timing out). */
function closed(ws: WebSocket, ms = 3000): Promise<{ code: number; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the server did not close the socket within ${ms} ms`)), ms);
  });
  return Promise.race([closedForever(ws), timeout]).finally(() => clearTimeout(timer));
}

async function rateServer(rateLimit: RateLimitOptions | undefined, more: PlannedOptions = {}) {
  const lines: string[] = [];
  const closes: CloseInfo[] = [];
  const options: PlannedOptions = { path: '/ws', log: (l) => lines.push(l), rateLimit, ...more };
  const { server, url } = await listen<unknown>(options);
  server.connections$.subscribe((socket) => {
    socket.messages$.subscribe(socket);
    socket.close$.subscribe((c) => closes.push(c));
  });
  return { server, url, lines, closes };
}

/** Records every message a client receives, with its arrival time (ms since `t0`). */
function record(ws: WebSocket, t0: () => number) {
  const got: { data: Buffer; at: number }[] = [];
  ws.on('message', (data) => got.push({ data: data as Buffer, at: performance.now() - t0() }));
  return got;
}

async function expectEcho(ws: WebSocket, text: string, withinMs = 200): Promise<void> {
  const started = performance.now();
  const reply = nextMessage(ws);
  ws.send(text);
  expect((await reply).data.toString()).toBe(text);
  expect(performance.now() - started).toBeLessThan(withinMs);
}

/**
 * Checks that what arrived never ran ahead of `rate` units per second after a
 * burst of one second's worth: by the time of item k, at most
 * `rate * t + rate` units (+10 % and the item itself for timer slack).
 */
function expectAtMostRate(arrivals: number[], sizes: number[], rate: number): void {
  let total = 0;
  const tooFast: string[] = [];
  arrivals.forEach((at, k) => {
    total += sizes[k]!;
    const max = rate * (at / 1000) + rate * 1.1 + sizes[k]!;
    if (total > max) tooFast.push(`#${k}: ${total} by ${at.toFixed(0)} ms (at most ${max.toFixed(0)})`);
  });
  expect(tooFast).toEqual([]);
}

describe('rateLimit option (planned API)', () => {
  const made: RxServer<unknown>[] = [];
  afterEach(async () => {
    for (const server of made.splice(0)) {
      await server.listening.catch(() => undefined);
      await server.close();
    }
  });

  it('is validated when the server is created', () => {
    const make = (rateLimit: unknown) => {
      made.push(serve({ port: 0, rateLimit } as ServeOptions<unknown>)); // it should throw; if not, closed below
    };
    expect(() => make({ messages: 0 })).toThrow(InvalidArgumentError);
    expect(() => make({ messages: 0 })).toThrow(/rateLimit\.messages/);
    expect(() => make({ bytes: -1 })).toThrow(/rateLimit\.bytes/);
    expect(() => make({ messages: 1.5 })).toThrow(/rateLimit\.messages/);
    expect(() => make({ messages: 10, policy: 'drop' })).toThrow(/rateLimit\.policy/);
    expect(() => make('fast')).toThrow(/rateLimit/);
  });

  it('without rateLimit there is no limit: a burst of 1,000 messages is echoed at once', async () => {
    const s = await rateServer(undefined);
    const ws = await open(s.url());
    const got = record(ws, () => 0);
    for (let i = 0; i < 1000; i++) ws.send(`m${i}`);
    await until(() => got.length === 1000, '1000 echoes', 5000);
    expect(got.map((g) => g.data.toString())).toEqual(Array.from({ length: 1000 }, (_, i) => `m${i}`));
  });
});

describe("rateLimit, policy 'close' (planned API)", () => {
  it('closes a socket that exceeds messages/s with 1008, logs one line, and leaves the others alone', async () => {
    const s = await rateServer({ messages: 20 });
    const other = await open(s.url());
    const ws = await open(s.url());
    const got = record(ws, () => 0);
    const done = closed(ws);
    for (let i = 0; i < 100; i++) ws.send(`m${i}`);
    const { code } = await done;
    expect(code).toBe(CloseCode.POLICY_VIOLATION);
    expect(got.length).toBeLessThanOrEqual(25); // about one second's budget, not the 100
    await until(() => s.server.sockets.size === 1, 'the release');
    expect(s.closes).toEqual([expect.objectContaining({ code: 1008 })]);
    expect(s.lines).toEqual([expect.stringMatching(/^socket from 127\.0\.0\.1 closed 1008\b/)]);
    await expectEcho(other, 'unaffected');
  });

  it('closes a socket that exceeds bytes/s with 1008', async () => {
    const s = await rateServer({ bytes: 16 * 1024 });
    const ws = await open(s.url());
    const done = closed(ws);
    for (let i = 0; i < 10; i++) ws.send(Buffer.alloc(8 * 1024, i));
    expect((await done).code).toBe(CloseCode.POLICY_VIOLATION);
  });

  it('with both limits, the first one exceeded closes (bytes here)', async () => {
    const s = await rateServer({ messages: 1000, bytes: 4 * 1024 });
    const ws = await open(s.url());
    const done = closed(ws);
    for (let i = 0; i < 4; i++) ws.send(Buffer.alloc(4 * 1024));
    expect((await done).code).toBe(CloseCode.POLICY_VIOLATION);
  });

  it('never closes a socket that stays under the limits', async () => {
    const s = await rateServer({ messages: 20, bytes: 64 * 1024 });
    const ws = await open(s.url());
    const got = record(ws, () => 0);
    for (let i = 0; i < 12; i++) {
      ws.send(Buffer.alloc(2 * 1024, i)); // 10 messages/s, 20 KiB/s: half of each limit
      await delay(100);
    }
    await until(() => got.length === 12, '12 echoes');
    expect(ws.readyState).toBe(ws.OPEN);
    expect(s.lines).toEqual([]);
    const done = closed(ws);
    ws.close(1000);
    expect((await done).code).toBe(1000);
  });
});

describe("rateLimit, policy 'pause' (planned API)", () => {
  it('delays the excess messages instead of dropping them: all echoed, in order, at most at the limited rate', async () => {
    const rate = 20;
    const n = 60;
    const s = await rateServer({ messages: rate, policy: 'pause' });
    const ws = await open(s.url());
    let t0 = 0;
    const got = record(ws, () => t0);
    t0 = performance.now();
    for (let i = 0; i < n; i++) ws.send(`m${i}`);
    await until(() => got.length === n || ws.readyState !== ws.OPEN, `${n} echoes`, 10_000);
    expect(ws.readyState).toBe(ws.OPEN);
    expect(got.map((g) => g.data.toString())).toEqual(Array.from({ length: n }, (_, i) => `m${i}`));
    const last = got[n - 1]!.at;
    process.stdout.write(`pause policy: ${n} messages at ${rate}/s echoed over ${last.toFixed(0)} ms\n`);
    // The budget refills at `rate`: at least (n - rate) / rate seconds, give or take timer slack.
    expect(last).toBeGreaterThanOrEqual(((n - rate) / rate) * 1000 * 0.8);
    expect(last).toBeLessThan((n / rate) * 1000 + 1500);
    expectAtMostRate(
      got.map((g) => g.at),
      got.map(() => 1),
      rate,
    );
    expect(s.lines).toEqual([]);
  });

  it('delays by bytes/s too, and the payloads arrive intact', async () => {
    const rate = 32 * 1024;
    const s = await rateServer({ bytes: rate, policy: 'pause' });
    const ws = await open(s.url());
    let t0 = 0;
    const got = record(ws, () => t0);
    const sent = Array.from({ length: 12 }, (_, i) => Buffer.alloc(8 * 1024, i)); // 96 KiB at 32 KiB/s
    t0 = performance.now();
    for (const b of sent) ws.send(b);
    await until(() => got.length === sent.length || ws.readyState !== ws.OPEN, 'the echoes', 10_000);
    expect(got.map((g) => g.data)).toEqual(sent);
    const last = got[sent.length - 1]!.at;
    expect(last).toBeGreaterThanOrEqual(((96 - 32) / 32) * 1000 * 0.8);
    expectAtMostRate(
      got.map((g) => g.at),
      got.map((g) => g.data.length),
      rate,
    );
  });

  it('does not slow the other sockets while one is paused', async () => {
    const s = await rateServer({ messages: 5, policy: 'pause' });
    const greedy = await open(s.url());
    const got = record(greedy, () => 0);
    for (let i = 0; i < 20; i++) greedy.send(`g${i}`);
    await delay(200);
    expect(got.length).toBeLessThan(20); // the greedy one is being held back...
    const polite = await open(s.url());
    await expectEcho(polite, 'polite', 200); // ...the polite one is not
  });

  it('a socket paused by the rate limit is not killed by the heartbeat for not answering pings', async () => {
    const s = await rateServer({ messages: 5, policy: 'pause' }, { heartbeat: { interval: 100, timeout: 100 } });
    const ws = await open(s.url());
    const got = record(ws, () => 0);
    for (let i = 0; i < 15; i++) ws.send(`m${i}`); // ~2 s of pause, far past interval + timeout
    await until(() => got.length === 15 || ws.readyState !== ws.OPEN, 'the echoes', 10_000);
    expect(ws.readyState).toBe(ws.OPEN);
    expect(got).toHaveLength(15);
  });

  it('a paused socket still closes promptly when the server closes', async () => {
    const s = await rateServer({ messages: 2, policy: 'pause' });
    const ws = await open(s.url());
    for (let i = 0; i < 50; i++) ws.send(`m${i}`); // ~25 s worth
    await delay(100);
    const done = closed(ws);
    const started = performance.now();
    await s.server.close({ timeout: 1000 });
    expect((await done).code).toBe(1001);
    expect(performance.now() - started).toBeLessThan(1500);
  });
});
