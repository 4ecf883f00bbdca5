import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { filter, firstValueFrom, map, type Observable, type SchedulerLike } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { WebSocket, type ClientOptions } from 'ws';
import {
  connect,
  defaultShouldReconnect,
  type RxClient,
  type ClientStatus,
  type ConnectOptions,
  type SocketLike,
  type WebSocketFactory,
} from '../../src/client/client';
import { HeartbeatMonitor } from '../../src/socket/heartbeat';
import {
  BackpressureError,
  FrameDroppedError,
  HandshakeError,
  HeartbeatTimeoutError,
  InvalidArgumentError,
  InvalidFrameError,
  RxSocket,
  SocketCloseError,
  SocketClosedError,
  type CloseInfo,
  type Message,
  type RxjsWsError,
} from '../../src';
import { refuse as refuseWith, serve, type RxServer, type RxSocket as ServerSocket } from '../../src';
import { FakeWebSocket } from '../../src/testing/fake-ws';
import { listenerCounts } from '../support/fake';
import { delay, listen, opened } from '../support/net';

// ---------------------------------------------------------------------------------------------
// A fake server: each new connection follows the next plan, in the client's virtual time.

type Plan = ReadonlyArray<readonly [at: number, act: (ws: FakeClientSocket) => void]>;

class FakeClientSocket extends FakeWebSocket {
  constructor(
    readonly url: string,
    readonly protocols: string[],
    readonly options: ClientOptions,
  ) {
    super(WebSocket.CONNECTING);
  }

  /** The TCP connect failed, as `ws` reports it: 'error', then 'close' 1006. */
  refuse(): void {
    if (this.readyState === WebSocket.CLOSED) return;
    this.emit('error', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }));
    this.drop();
  }
}

const refuse = (ws: FakeClientSocket) => ws.refuse();
const accept = (ws: FakeClientSocket) => ws.open();
const drop = (ws: FakeClientSocket) => ws.drop();

/** A `WebSocket` option whose n-th connection follows `plans[n]` (none: it stays connecting). */
function fakeServer(scheduler: SchedulerLike, plans: Plan[] = []) {
  const made: FakeClientSocket[] = [];
  const WebSocketCtor = class extends FakeClientSocket {
    constructor(url: string, protocols: string[], options: ClientOptions) {
      super(url, protocols, options);
      for (const [at, act] of plans[made.length] ?? []) scheduler.schedule(() => act(this), at);
      made.push(this);
    }
  };
  return { WebSocket: WebSocketCtor as unknown as WebSocketFactory, made };
}

/** A status with only what the marble tests compare. */
function brief(s: ClientStatus) {
  return {
    state: s.state,
    attempt: s.attempt,
    ...(s.delay !== undefined && { delay: s.delay }),
    ...(s.lastClose && { code: s.lastClose.code }),
    ...(s.error !== undefined && { error: (s.error as Error).name }),
  };
}

function collect<T>(source: Observable<T>) {
  const values: T[] = [];
  const result: { error?: unknown; done: boolean } = { done: false };
  source.subscribe({
    next: (v) => values.push(v),
    error: (e: unknown) => ((result.error = e), (result.done = true)),
    complete: () => (result.done = true),
  });
  return { values, result };
}

/** A client on fake sockets with a manual virtual clock (flush() to run the reconnect timers). */
function fakeClient(options: ConnectOptions = {}, plans: Plan[] = []) {
  const scheduler = new TestScheduler(() => undefined);
  scheduler.maxFrames = Infinity;
  const server = fakeServer(scheduler, plans);
  const client = connect('ws://fake.test/ws', {
    heartbeat: false,
    reconnect: { initialDelay: 10, jitter: 'none' },
    scheduler,
    WebSocket: server.WebSocket,
    ...options,
  });
  const last = () => server.made[server.made.length - 1]!;
  return { client, scheduler, made: server.made, last };
}

const sent = (ws: FakeWebSocket) => ws.sent.map((f) => (f.binary ? `<${f.data.toString()}>` : f.data));

// ---------------------------------------------------------------------------------------------

describe('connect() options', () => {
  it.each<[string, unknown, ConnectOptions | undefined, string]>([
    ['url', 'not a url', undefined, 'Expected `url` to be a ws:, wss:, http:, https: or ws+unix: URL without a fragment, got `"not a url"` (string)'],
    ['url', 'ftp://x/ws', undefined, 'got `"ftp://x/ws"` (string)'],
    ['url', 'ws://x/ws#frag', undefined, 'URL without a fragment'],
    ['url', 42, undefined, 'got `42` (number)'],
    ['options', 'ws://x', null as never, 'Expected `options` to be an object, got `null` (null)'],
    ['protocols', 'ws://x', { protocols: ['chat', 'chat'] }, 'Expected `protocols` to be a token or a list of distinct tokens'],
    ['protocols', 'ws://x', { protocols: 'a b' }, 'got `"a b"` (string)'],
    ['headers', 'ws://x', { headers: { 'X-Token': 1 as never } }, 'Expected `headers.X-Token` to be a string, got `1` (number)'],
    ['handshakeTimeout', 'ws://x', { handshakeTimeout: 0 }, 'Expected `handshakeTimeout` to be an integer >= 1, got `0` (number)'],
    ['maxPayload', 'ws://x', { maxPayload: -1 }, 'Expected `maxPayload` to be an integer >= 1, got `-1` (number)'],
    ['perMessageDeflate', 'ws://x', { perMessageDeflate: 'yes' as never }, 'Expected `perMessageDeflate` to be a boolean or an object'],
    ['reconnect', 'ws://x', { reconnect: true as never }, 'Expected `reconnect` to be an object, got `true` (boolean)'],
    ['reconnect.factor', 'ws://x', { reconnect: { factor: 0.5 } }, 'Expected `reconnect.factor` to be a finite number >= 1, got `0.5` (number)'],
    ['reconnect.maxAttempts', 'ws://x', { reconnect: { maxAttempts: -1 } }, 'Expected `reconnect.maxAttempts` to be an integer >= 0 or Infinity'],
    ['shouldReconnect', 'ws://x', { shouldReconnect: 1 as never }, 'Expected `shouldReconnect` to be a function, got `1` (number)'],
    ['offline.policy', 'ws://x', { offline: { policy: 'close' as never } }, '"close" needs an open connection), got `"close"` (string)'],
    ['offline.maxBytes', 'ws://x', { offline: { maxBytes: 0 } }, 'Expected `offline.maxBytes` to be an integer >= 1, got `0` (number)'],
    ['heartbeat.interval', 'ws://x', { heartbeat: { interval: 0 } }, 'Expected `heartbeat.interval` to be an integer in'],
    ['outbound.policy', 'ws://x', { outbound: { policy: 'drop' as never } }, 'Expected `outbound.policy` to be one of'],
    ['inboundHold', 'ws://x', { inboundHold: 0 }, 'Expected `inboundHold` to be an integer >= 1, got `0` (number)'],
    ['WebSocket', 'ws://x', { WebSocket: {} as never }, 'Expected `WebSocket` to be a function, got `{}` (object)'],
  ])('rejects a bad `%s` at connect() time', (_name, url, options, message) => {
    const { WebSocket: Ctor, made } = fakeServer(new TestScheduler(() => undefined));
    const call = () => connect(url as string, options === null || options === undefined ? options : { WebSocket: Ctor, ...options });
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(message);
    expect(made).toHaveLength(0);
  });

  it('passes ws options through, with rxjs-ws defaults (16 MiB, no deflate, 10 s handshake)', () => {
    const { client, made } = fakeClient({ protocols: 'chat.v1', headers: { Authorization: 'Bearer t' }, rejectUnauthorized: false, servername: 'api.test' });
    const ws = made[0]!;
    expect(ws.url).toBe('ws://fake.test/ws');
    expect(ws.protocols).toEqual(['chat.v1']);
    expect(ws.options).toMatchObject({
      headers: { Authorization: 'Bearer t' },
      rejectUnauthorized: false,
      servername: 'api.test',
      maxPayload: 16 * 1024 * 1024,
      maxFragments: 65_536,
      maxBufferedChunks: 16_384,
      maxPendingAutoPongs: 2048,
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      closeTimeout: 5_000,
    });
    for (const own of ['reconnect', 'offline', 'heartbeat', 'outbound', 'scheduler', 'WebSocket', 'protocols']) expect(ws.options).not.toHaveProperty(own);
    client.terminate();
  });

  it('gives RxSocket and RxClient one surface (SocketLike)', () => {
    const { client } = fakeClient();
    const both: SocketLike[] = [client, new RxSocket(new FakeWebSocket() as unknown as WebSocket)];
    for (const s of both) for (const key of ['messages$', 'close$', 'errors$', 'writable$', 'state', 'bufferedAmount', 'stats', 'closeInfo']) expect(key in s).toBe(true);
    client.terminate();
  });
});

describe('the default shouldReconnect', () => {
  const close = (code: number): CloseInfo => ({ code, reason: '', wasClean: code !== 1006 });
  it.each([1001, 1005, 1006, 1011, 1012, 1013, 1014])('retries close code %p', (code) => {
    expect(defaultShouldReconnect({ close: close(code), attempt: 1 })).toBe(true);
  });
  it.each([1000, 1002, 1003, 1007, 1008, 1009, 1010, 3000, 4000, 4999])('does not retry close code %p', (code) => {
    expect(defaultShouldReconnect({ close: close(code), attempt: 1 })).toBe(false);
  });
  it('retries handshake refusals >= 500, 429 (too many handshakes) and heartbeat timeouts, not other 4xx', () => {
    for (const status of [400, 401, 403, 404]) expect(defaultShouldReconnect({ close: close(1006), error: new HandshakeError(status), attempt: 1 })).toBe(false);
    for (const status of [429, 500, 502, 503]) expect(defaultShouldReconnect({ close: close(1006), error: new HandshakeError(status), attempt: 1 })).toBe(true);
    const timeout = new HeartbeatTimeoutError({ lastPongAt: 0, missed: 1, timeout: 10 });
    expect(defaultShouldReconnect({ close: close(1006), error: timeout, attempt: 1 })).toBe(true);
  });
  it('does not retry a TLS certificate the client refused, but retries a refused connection', () => {
    const failed = (code: string) => new SocketCloseError(close(1006), { cause: Object.assign(new Error(code), { code }) });
    for (const code of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']) {
      expect(defaultShouldReconnect({ close: close(1006), error: failed(code), attempt: 1 })).toBe(false);
    }
    expect(defaultShouldReconnect({ close: close(1006), error: failed('ECONNREFUSED'), attempt: 1 })).toBe(true);
  });
});

describe('reconnect schedule (marbles, through status$)', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  it('backs off with jitter, resets after an open, and gives up after maxAttempts with the last error', () => {
    testScheduler.run(({ expectObservable }) => {
      const plans: Plan[] = [
        [[10, refuse]],
        [[10, refuse]],
        [[10, accept], [110, drop]],
        [[10, refuse]],
        [[10, refuse]],
        [[10, refuse]],
      ];
      const { WebSocket: Ctor, made } = fakeServer(testScheduler, plans);
      // Ceilings 100, 200, 400; random 0.5 halves them.
      const client = connect('ws://fake.test/ws', {
        WebSocket: Ctor,
        heartbeat: false,
        scheduler: testScheduler,
        // minUptime 50: the open connection (100 ms) counts as one that worked, and resets the count.
        reconnect: { initialDelay: 100, maxDelay: 1000, maxAttempts: 3, random: () => 0.5, minUptime: 50 },
      });
      const refused = { code: 1006, error: 'SocketCloseError' };
      expectObservable(client.status$.pipe(map(brief))).toBe('c 9ms a 59ms b 109ms o 99ms a 59ms b 109ms d 209ms (x|)', {
        c: { state: 'connecting', attempt: 0 },
        a: { state: 'reconnecting', attempt: 1, delay: 50, ...refused },
        b: { state: 'reconnecting', attempt: 2, delay: 100, ...refused },
        d: { state: 'reconnecting', attempt: 3, delay: 200, ...refused },
        o: { state: 'open', attempt: 0 },
        x: { state: 'closed', attempt: 3, ...refused },
      });
      expectObservable(client.messages$).toBe('660ms #', undefined, expect.any(SocketCloseError));
      expectObservable(client.close$).toBe('660ms (c|)', { c: { code: 1006, reason: '', wasClean: false, error: expect.objectContaining({ code: 'ECONNREFUSED' }) } });
      testScheduler.flush();
      expect(made).toHaveLength(6);
      const cause = (client.status.error as SocketCloseError).cause as { code: string };
      expect(cause.code).toBe('ECONNREFUSED');
    });
  });

  it('waits floor(random() * ceiling), the ceiling capped at maxDelay', () => {
    testScheduler.run(({ expectObservable }) => {
      const randoms = [0.999, 0.1, 0.75, 0];
      const { WebSocket: Ctor } = fakeServer(testScheduler, Array.from({ length: 5 }, (): Plan => [[0, refuse]]));
      const client = connect('ws://fake.test/ws', {
        WebSocket: Ctor,
        heartbeat: false,
        scheduler: testScheduler,
        reconnect: { initialDelay: 100, factor: 3, maxDelay: 500, maxAttempts: 4, random: () => randoms.shift()! },
      });
      // Ceilings 100, 300, 500 (900 capped), 500 -> waits 99, 30, 375, 0.
      const delays = client.status$.pipe(filter((s) => s.state !== 'connecting'), map((s) => s.delay ?? s.state));
      expectObservable(delays).toBe('a 98ms b 29ms c 374ms (de|)', { a: 99, b: 30, c: 375, d: 0, e: 'closed' });
    });
  });

  it('does not retry an application close code (4001)', () => {
    testScheduler.run(({ expectObservable }) => {
      const { WebSocket: Ctor } = fakeServer(testScheduler, [[[5, accept], [20, (ws) => ws.receiveClose(4001, 'banned')]]]);
      const client = connect('ws://fake.test/ws', { WebSocket: Ctor, heartbeat: false, scheduler: testScheduler });
      expectObservable(client.status$.pipe(map(brief))).toBe('c 4ms o 14ms (x|)', {
        c: { state: 'connecting', attempt: 0 },
        o: { state: 'open', attempt: 0 },
        x: { state: 'closed', attempt: 0, code: 4001, error: 'SocketCloseError' },
      });
      expectObservable(client.messages$).toBe('20ms #', undefined, expect.any(SocketCloseError));
    });
  });

  it('completes messages$ on a normal close from the server, without retrying', () => {
    testScheduler.run(({ expectObservable }) => {
      const { WebSocket: Ctor } = fakeServer(testScheduler, [[[5, accept], [20, (ws) => ws.receiveClose(1000)]]]);
      const client = connect('ws://fake.test/ws', { WebSocket: Ctor, heartbeat: false, scheduler: testScheduler });
      expectObservable(client.messages$).toBe('20ms |');
    });
  });

  it('asks shouldReconnect with the close, the error and the attempt', () => {
    testScheduler.run(({ expectObservable }) => {
      const { WebSocket: Ctor } = fakeServer(testScheduler, [[[5, refuse]], [[5, refuse]], [[5, refuse]]]);
      const asked: unknown[] = [];
      const client = connect('ws://fake.test/ws', {
        WebSocket: Ctor,
        heartbeat: false,
        scheduler: testScheduler,
        reconnect: { initialDelay: 10, jitter: 'none' },
        shouldReconnect: ({ close, error, attempt }) => {
          asked.push([close?.code, (error as Error).name, attempt]);
          return attempt < 3;
        },
      });
      expectObservable(client.status$.pipe(map((s) => s.state[0]))).toBe('c 4ms r 14ms r 24ms (c|)');
      testScheduler.flush();
      expect(asked).toEqual([
        [1006, 'SocketCloseError', 1],
        [1006, 'SocketCloseError', 2],
        [1006, 'SocketCloseError', 3],
      ]);
    });
  });

  it('never retries with reconnect: false', () => {
    testScheduler.run(({ expectObservable }) => {
      const { WebSocket: Ctor } = fakeServer(testScheduler, [[[5, refuse]]]);
      const client = connect('ws://fake.test/ws', { WebSocket: Ctor, heartbeat: false, scheduler: testScheduler, reconnect: false });
      expectObservable(client.status$.pipe(map((s) => s.state[0]))).toBe('c 4ms (c|)');
    });
  });

  it('reconnects after a heartbeat timeout (time from the same scheduler)', () => {
    testScheduler.run(({ expectObservable }) => {
      const { WebSocket: Ctor, made } = fakeServer(testScheduler, [[[0, accept]], [[0, accept], [40, (ws) => ws.receiveClose(1000)]]]);
      const client = connect('ws://fake.test/ws', {
        WebSocket: Ctor,
        scheduler: testScheduler,
        heartbeat: { interval: 100, timeout: 50 },
        reconnect: { initialDelay: 10, jitter: 'none' },
      });
      // Ping after 100 ms of quiet, no pong: terminated 50 ms later (within a 5 ms tick).
      expectObservable(client.status$.pipe(map(brief))).toBe('o 149ms r 9ms o 39ms (x|)', {
        o: { state: 'open', attempt: 0 },
        r: { state: 'reconnecting', attempt: 1, delay: 10, code: 1006, error: 'HeartbeatTimeoutError' },
        // The second connection lived 40 ms, less than minUptime (5 s): the outage it ended in is still the first one.
        x: { state: 'closed', attempt: 1, code: 1000 },
      });
      testScheduler.flush();
      expect(made[0]!.pings).toHaveLength(1);
      expect(HeartbeatMonitor.timers).toBe(0);
    });
  });

  it('counts attempts on across connections that close before minUptime, so maxAttempts ends a storm of accept-then-close', () => {
    testScheduler.run(({ expectObservable }) => {
      // The server accepts, then closes with 1013 (retried) after 100 ms, every time.
      const storm = (ws: FakeClientSocket) => testScheduler.schedule(() => ws.receiveClose(1013), 100);
      const plans: Plan[] = Array.from({ length: 5 }, () => [[0, accept], [0, storm]] as Plan);
      const { WebSocket: Ctor, made } = fakeServer(testScheduler, plans);
      const client = connect('ws://fake.test/ws', {
        WebSocket: Ctor,
        heartbeat: false,
        scheduler: testScheduler,
        reconnect: { initialDelay: 10, jitter: 'none', factor: 1, maxAttempts: 2, minUptime: 1000 },
      });
      expectObservable(client.status$.pipe(map((s) => `${s.state}:${s.attempt}`))).toBe('o 99ms r 9ms o 99ms r 9ms o 99ms (x|)', {
        o: 'open:0',
        r: expect.stringMatching(/^reconnecting:[12]$/),
        x: 'closed:2',
      });
      testScheduler.flush();
      expect(made).toHaveLength(3);
    });
  });

  it('starts a new count after a connection that stayed open minUptime', () => {
    testScheduler.run(() => {
      const close = (after: number) => (ws: FakeClientSocket) => testScheduler.schedule(() => ws.receiveClose(1013), after);
      const plans: Plan[] = [[[0, accept], [0, close(100)]], [[0, accept], [0, close(2000)]], [[0, accept], [0, close(100)]]];
      const { WebSocket: Ctor } = fakeServer(testScheduler, plans);
      const client = connect('ws://fake.test/ws', {
        WebSocket: Ctor,
        heartbeat: false,
        scheduler: testScheduler,
        reconnect: { initialDelay: 10, jitter: 'none', factor: 1, maxAttempts: 5, minUptime: 1000 },
      });
      const attempts: number[] = [];
      client.status$.subscribe((s) => s.state === 'reconnecting' && attempts.push(s.attempt));
      testScheduler.flush();
      // The first lived 100 ms (attempt 1); the second 2 s, so the outage after it starts again at 1; the third 100 ms (2).
      expect(attempts).toEqual([1, 1, 2]);
      client.terminate();
    });
  });

  it('close() while waiting to reconnect cancels the timer and closes at once', () => {
    const { client, scheduler, made } = fakeClient();
    made[0]!.refuse();
    expect(scheduler.actions).toHaveLength(1);
    expect(client.status).toMatchObject({ state: 'reconnecting', attempt: 1, delay: 10 });
    const closes = collect(client.close$);
    client.close(4000, 'bye');
    expect(scheduler.actions).toHaveLength(0);
    scheduler.flush();
    expect(made).toHaveLength(1);
    expect(closes.values).toEqual([{ code: 4000, reason: 'bye', wasClean: true }]);
    expect(client.status).toMatchObject({ state: 'closed', attempt: 1 });
  });
});

describe('reentrancy', () => {
  it('a status$ subscriber that closes on "reconnecting" stops the retry', () => {
    const { client, scheduler, made } = fakeClient();
    client.status$.pipe(filter((s) => s.state === 'reconnecting')).subscribe(() => client.close());
    made[0]!.refuse();
    scheduler.flush();
    expect(made).toHaveLength(1);
    expect(client.status).toMatchObject({ state: 'closed', attempt: 1 });
  });

  it('a shouldReconnect that throws ends the client with what it threw', () => {
    const oops = new Error('predicate bug');
    const { client, made } = fakeClient({
      shouldReconnect: () => {
        throw oops;
      },
    });
    made[0]!.refuse();
    expect(client.status).toMatchObject({ state: 'closed', error: oops });
  });
});

describe('offline queue', () => {
  it('holds frames until open and sends them first, in order, on each (re)open', () => {
    const { client, scheduler, made } = fakeClient();
    client.next('a');
    client.next(Buffer.from('b'));
    expect(client.state).toBe('connecting');
    expect(client.bufferedAmount).toBe(2);
    expect(made[0]!.sent).toEqual([]);
    made[0]!.open();
    client.next('c');
    expect(sent(made[0]!)).toEqual(['a', '<b>', 'c']);
    made[0]!.drop();
    client.next('d');
    client.send('e');
    scheduler.flush();
    made[1]!.open();
    client.next('f');
    expect(sent(made[1]!)).toEqual(['d', 'e', 'f']);
    client.terminate();
  });

  it('lets a status$ "open" subscriber send ahead of the queue through client.socket (auth, resubscribe)', () => {
    const { client, scheduler, made } = fakeClient();
    client.status$.pipe(filter((s) => s.state === 'open')).subscribe(() => client.socket!.next('hello'));
    client.next('queued');
    made[0]!.open();
    made[0]!.drop();
    client.next('queued again');
    scheduler.flush();
    made[1]!.open();
    expect([sent(made[0]!), sent(made[1]!)]).toEqual([['hello', 'queued'], ['hello', 'queued again']]);
    client.terminate();
  });

  it('switches to the queue as soon as the connection is closing (the server close frame arrived), never handing frames to it', () => {
    const { client, scheduler, made } = fakeClient();
    made[0]!.open();
    const errors = collect<RxjsWsError>(client.errors$);
    made[0]!.readyState = WebSocket.CLOSING; // the peer's 1001 is in, ws answers it
    client.next('while closing');
    expect(client.state).toBe('connecting');
    expect(made[0]!.sent).toEqual([]);
    made[0]!.receiveClose(1001, 'restart');
    scheduler.flush();
    made[1]!.open();
    expect(sent(made[1]!)).toEqual(['while closing']);
    expect(errors.values).toEqual([]);
    client.terminate();
  });

  it('keeps order when the new connection is congested: the rest waits for writable$', () => {
    const { client, made } = fakeClient();
    const writable = collect(client.writable$);
    for (const m of ['1', '2', '3']) client.next(m);
    made[0]!._socket.writableNeedDrain = true;
    made[0]!.open();
    client.next('4'); // newer: must wait behind 2 and 3
    expect(sent(made[0]!)).toEqual([]);
    made[0]!._socket.drain();
    expect(sent(made[0]!)).toEqual(['1', '2', '3', '4']);
    client.next('5');
    expect(sent(made[0]!)).toEqual(['1', '2', '3', '4', '5']);
    expect(writable.values).toEqual([false, true]);
    client.terminate();
  });

  it('refuses and drops by policy, like RxSocket: BackpressureError to send(), errors$ for next()', () => {
    const buffer = fakeClient({ offline: { maxMessages: 2 } });
    const errors = collect<RxjsWsError>(buffer.client.errors$);
    buffer.client.send('1');
    buffer.client.send('2');
    expect(() => buffer.client.send('3')).toThrow(BackpressureError);
    buffer.client.next('4');
    expect(errors.values).toEqual([expect.any(BackpressureError)]);
    expect(buffer.client.stats).toMatchObject({ refused: 2, dropped: 0, sent: 0 });
    buffer.made[0]!.open();
    expect(sent(buffer.made[0]!)).toEqual(['1', '2']);
    expect(buffer.client.stats.sent).toBe(2);
    buffer.client.terminate();

    const oldest = fakeClient({ offline: { policy: 'drop-oldest', maxMessages: 3 } });
    const dropped = collect<RxjsWsError>(oldest.client.errors$);
    for (const m of ['1', '2', '3', '4', '5']) oldest.client.next(m);
    expect(dropped.values.map((e) => [(e as FrameDroppedError).why, (e as FrameDroppedError).count])).toEqual([
      ['drop-oldest', 1],
      ['drop-oldest', 1],
    ]);
    oldest.made[0]!.open();
    expect(sent(oldest.made[0]!)).toEqual(['3', '4', '5']);
    oldest.client.terminate();

    const newest = fakeClient({ offline: { policy: 'drop-newest', maxBytes: 2 } });
    for (const m of ['1', '2', '3']) newest.client.next(m);
    newest.made[0]!.open();
    expect(sent(newest.made[0]!)).toEqual(['1', '2']);
    expect(newest.client.stats.dropped).toBe(1);
    newest.client.terminate();
  });

  it('refuses values that are not frames, and everything after close()', () => {
    const { client, made } = fakeClient();
    const errors = collect<RxjsWsError>(client.errors$);
    expect(() => client.send(42 as never)).toThrow(InvalidFrameError);
    client.next({} as never);
    client.close();
    expect(() => client.send('late')).toThrow(SocketClosedError);
    expect(errors.values.map((e) => e.name)).toEqual(['InvalidFrameError']);
    made[0]!.open();
    made[0]!.receiveClose(1000);
    expect(made[0]!.sent).toEqual([]);
  });

  it('reports the frames still queued at the end as FrameDroppedError("closed")', () => {
    const { client, scheduler } = fakeClient({ reconnect: { initialDelay: 10, maxAttempts: 0 } }, [[[0, refuse]]]);
    const errors = collect<RxjsWsError>(client.errors$);
    client.next('a');
    client.next('b');
    scheduler.flush();
    expect(client.state).toBe('closed');
    expect(errors.values).toEqual([new FrameDroppedError('closed', 2)]);
    expect(client.stats.dropped).toBe(2);
    // errors$ stays open: a frame offered after the end is reported, not lost in silence.
    client.next('c');
    expect(errors.values).toEqual([new FrameDroppedError('closed', 2), new SocketClosedError(client.closeInfo)]);
    expect(client.stats.refused).toBe(1);
  });

  it('keeps frames in its offline queue, under its policy, while the connection is congested; they follow in order', () => {
    const { client, made } = fakeClient({ offline: { maxMessages: 2 } });
    made[0]!.open();
    const errors = collect<RxjsWsError>(client.errors$);
    made[0]!._socket.writableNeedDrain = true;
    client.next('1'); // taken by the connection, which queues it: it is congested now
    client.next('2');
    client.next('3');
    client.next('refused: the offline queue is full');
    expect(errors.values).toEqual([expect.any(BackpressureError)]);
    expect(client.bufferedAmount).toBe(3);
    made[0]!._socket.drain();
    expect(sent(made[0]!)).toEqual(['1', '2', '3']);
    client.terminate();
  });

  it('puts the frames a dying connection never sent back in the offline queue, ahead of later ones: no gap, no loss', () => {
    const { client, made, scheduler } = fakeClient({ offline: { policy: 'error' } });
    made[0]!.open();
    const errors = collect<RxjsWsError>(client.errors$);
    made[0]!._socket.writableNeedDrain = true;
    for (const m of ['1', '2', '3']) client.next(m); // handed to the connection, stuck in its own queue
    made[0]!.receiveClose(1001); // the server shuts down gracefully
    client.next('4'); // offered between connections
    scheduler.flush();
    made[1]!.open();
    expect(sent(made[1]!)).toEqual(['1', '2', '3', '4']);
    expect(errors.values).toEqual([]);
    client.terminate();
  });
});

describe('lifetime', () => {
  it('closes with 1000 when the last messages$ subscriber unsubscribes (not 1005, as RxJS webSocket() sends)', () => {
    const { client, made } = fakeClient();
    made[0]!.open();
    const a = client.messages$.subscribe();
    const b = client.messages$.subscribe();
    a.unsubscribe();
    expect(made[0]!.closeSent).toBeNull();
    b.unsubscribe();
    expect(made[0]!.closeSent).toEqual({ code: 1000, reason: '' });
    expect(client.state).toBe('closing');
    made[0]!.receiveClose(1000);
    expect(client.closeInfo).toEqual({ code: 1000, reason: '', wasClean: true });
  });

  it('keeps the frames of the last connection for a subscriber that comes after the end', () => {
    const { client, made } = fakeClient();
    made[0]!.open();
    made[0]!.receive('late');
    made[0]!.receiveClose(1000);
    const got = collect(client.messages$);
    expect(got.values).toEqual(['late']);
    expect(got.result).toEqual({ done: true });
  });

  it('holds frames for the first subscriber, across a reconnect', () => {
    const { client, scheduler, made } = fakeClient();
    made[0]!.open();
    made[0]!.receive('one');
    made[0]!.drop();
    scheduler.flush();
    made[1]!.open();
    made[1]!.receive(Buffer.from('two'));
    const got = collect<Message>(client.messages$);
    made[1]!.receive('three');
    expect(got.values).toEqual(['one', Buffer.from('two'), 'three']);
    client.terminate();
  });

  it('close() while connecting lets the handshake finish, sends the queue, then closes (of(x).subscribe(client))', () => {
    const { client, made } = fakeClient();
    client.next('hi');
    client.complete();
    expect(client.state).toBe('closing');
    made[0]!.open();
    expect(sent(made[0]!)).toEqual(['hi']);
    expect(made[0]!.closeSent).toEqual({ code: 1000, reason: '' });
    made[0]!.receiveClose(1000);
    expect(client.state).toBe('closed');
  });

  it('error() closes with 1011; close() validates like RxSocket and is idempotent', () => {
    const { client, made } = fakeClient();
    made[0]!.open();
    expect(() => client.close(1005)).toThrow(InvalidArgumentError);
    expect(() => client.close(1000, 'é'.repeat(62))).toThrow(/at most 123 bytes/);
    client.error(new Error('secret'));
    client.close(4000);
    expect(made[0]!.closeSent).toEqual({ code: 1011, reason: '' });
    made[0]!.receiveClose(1011);
    expect(client.status).toMatchObject({ state: 'closed', lastClose: { code: 1011 } });
  });

  it('terminate() ends at once with 1006', () => {
    const { client, made } = fakeClient();
    made[0]!.open();
    const closes = collect(client.close$);
    client.terminate();
    expect(made[0]!.terminated).toBe(true);
    expect(closes.values).toEqual([{ code: 1006, reason: '', wasClean: false }]);
  });

  it('ends with the error when the WebSocket constructor throws', () => {
    const boom = new Error('no sockets today');
    const client = connect('ws://x.test', {
      WebSocket: class {
        constructor() {
          throw boom;
        }
      } as unknown as WebSocketFactory,
    });
    expect(client.status).toEqual({ state: 'closed', attempt: 0, error: boom });
    expect(collect(client.messages$).result.error).toBe(boom);
  });
});

describe('teardown', () => {
  it('leaves no listener, subscription or timer after 200 connections', () => {
    const { client, scheduler, made } = fakeClient({ heartbeat: { interval: 1000, timeout: 500 } });
    let live = 0;
    for (const stream of [client.messages$, client.close$, client.writable$, client.status$] as Observable<unknown>[]) {
      live++;
      stream.subscribe({ error: () => live--, complete: () => live-- });
    }
    const before = listenerCounts(new FakeWebSocket());
    for (let i = 0; i < 200; i++) {
      made[i]!.open();
      made[i]!.receive('x');
      client.next('y');
      made[i]!.drop();
      expect([...listenerCounts(made[i]!), made[i]!.listenerCount('unexpected-response')]).toEqual([...before, 0]);
      scheduler.flush();
    }
    made[200]!.open();
    expect(HeartbeatMonitor.timers).toBe(1);
    client.close();
    made[200]!.receiveClose(1000);
    expect(live).toBe(0);
    expect(HeartbeatMonitor.timers).toBe(0);
    expect(scheduler.actions).toHaveLength(0);
    expect(client.socket).toBeNull();
    expect(client.stats).toMatchObject({ received: 200, sent: 200 });
  });
});

// ---------------------------------------------------------------------------------------------
// Real sockets: rxjs-ws servers on 127.0.0.1, port 0 (or the port a stopped server freed).

const clients = new Set<RxClient>();
afterEach(() => {
  for (const c of clients) c.terminate();
  clients.clear();
});

function dial(url: string, options: ConnectOptions = {}): RxClient {
  const client = connect(url, { reconnect: { initialDelay: 5, maxDelay: 40 }, ...options });
  clients.add(client);
  return client;
}

const until = (client: RxClient, state: ClientStatus['state']) =>
  firstValueFrom(client.status$.pipe(filter((s) => s.state === state)));

/** An rxjs-ws server on `port` (0: a free one), cleaned up after the test. */
async function serverOn<A = undefined>(port: number, options: Omit<Parameters<typeof serve<A>>[0], 'port'> = {}) {
  const server = serve<A>({ port, path: '/ws', ...options });
  opened.servers.add(server as RxServer<never>);
  const address = await server.listening;
  return { server, port: address.port, url: `ws://127.0.0.1:${address.port}/ws` };
}

/** Records, in order, every frame any connection of `server` receives. */
function record(server: RxServer<unknown> | RxServer<undefined>, into: string[], sockets: ServerSocket<unknown>[] = []) {
  server.connections$.subscribe((socket) => {
    sockets.push(socket as ServerSocket<unknown>);
    socket.messages$.subscribe({ next: (m) => into.push(m.toString()), error: () => {} });
  });
}

describe('connect() over real sockets', () => {
  it('echoes text as text and binary as binary', async () => {
    const { server, url } = await serverOn(0);
    server.connections$.subscribe((socket) => socket.messages$.subscribe(socket));
    const client = dial(url);
    const got: Message[] = [];
    const two = firstValueFrom(client.messages$.pipe(map((m) => got.push(m)), filter((n) => n === 2)));
    client.next('héllo');
    client.next(new Uint8Array([0, 1, 255]));
    await two;
    expect(got).toEqual(['héllo', Buffer.from([0, 1, 255])]);
    expect(typeof got[0]).toBe('string');
    expect(Buffer.isBuffer(got[1])).toBe(true);
    client.close();
    expect(await firstValueFrom(client.close$)).toEqual({ code: 1000, reason: '', wasClean: true });
  });

  it('survives a graceful server restart on the same port: every frame arrives once, in order, and messages$ never errors', async () => {
    const first = await serverOn(0);
    const received: string[] = [];
    record(first.server, received);
    const client = dial(first.url, { reconnect: { initialDelay: 10, maxDelay: 40 } });
    const states: string[] = [];
    client.status$.subscribe((s) => states.push(s.state));
    const appErrors: unknown[] = [];
    client.messages$.subscribe({ error: (e) => appErrors.push(e) });
    await until(client, 'open');

    const sent: string[] = [];
    let whileDown = 0;
    let n = 0;
    const ticker = setInterval(() => {
      const frame = `m${n++}`;
      if (client.status.state !== 'open') whileDown++;
      client.next(frame);
      sent.push(frame);
    }, 2);
    try {
      await delay(50);
      await first.server.close(); // 1001 to the client, and the port is free
      await delay(80);
      expect(client.status.state).toBe('reconnecting');
      const second = await serverOn(first.port);
      record(second.server, received);
      await until(client, 'open');
      await delay(50);
    } finally {
      clearInterval(ticker);
    }
    client.close();
    await firstValueFrom(client.close$);
    await delay(20); // the server reads the last frames before the close frame
    expect(whileDown).toBeGreaterThan(5);
    expect(received).toEqual(sent);
    expect(appErrors).toEqual([]);
    const changes = states.filter((s, i) => s !== states[i - 1]);
    expect(changes.slice(0, 3)).toEqual(['connecting', 'open', 'reconnecting']);
    expect(changes.slice(-2)).toEqual(['open', 'closed']);
    expect(client.status).toMatchObject({ state: 'closed', lastClose: { code: 1000, wasClean: true } });
  });

  it.each([401, 403, 400])('surfaces a %p handshake refusal as HandshakeError, without retrying', async (status) => {
    let upgrades = 0;
    const { url } = await serverOn(0, {
      authenticate: () => {
        upgrades++;
        throw refuseWith(status, `no (${status})`);
      },
    });
    const made: WebSocket[] = [];
    const client = dial(url, { WebSocket: recording(made) });
    const errors: unknown[] = [];
    client.messages$.subscribe({ error: (e) => errors.push(e) });
    await firstValueFrom(client.close$);
    expect(errors).toEqual([new HandshakeError(status, `no (${status})\n`)]);
    expect(errors[0]).toMatchObject({ status, body: `no (${status})\n`, code: 'RXJS_WS_HANDSHAKE_REFUSED' });
    expect(client.status).toMatchObject({ state: 'closed', attempt: 0, error: { status } });
    expect(upgrades).toBe(1);
    expect(made).toHaveLength(1);
    expect(made[0]!.readyState).toBe(WebSocket.CLOSED);
    expect(['open', 'message', 'close', 'error', 'unexpected-response'].map((e) => made[0]!.listenerCount(e))).toEqual([0, 0, 0, 0, 0]);
  });

  it('keeps 512 bytes of a long refusal body, then aborts the request and its socket', async () => {
    const http = createHttpServer();
    const hungUp = new Promise<void>((resolve) =>
      http.on('upgrade', (_req, socket: Socket) => {
        socket.on('error', () => {});
        socket.on('end', () => (socket.destroy(), resolve())); // the client's FIN; this side is half-open until destroyed
        socket.resume();
        socket.write(`HTTP/1.1 403 Forbidden\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(3000)}`); // and never ends
      }),
    );
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const client = dial(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/ws`);
      await firstValueFrom(client.close$);
      const error = client.status.error as HandshakeError;
      expect(error).toBeInstanceOf(HandshakeError);
      expect(error.status).toBe(403);
      expect(error.body).toBe('x'.repeat(512));
      await hungUp; // without waiting for the other 99,488 bytes
    } finally {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it('surfaces a 404 (unknown path) the same way', async () => {
    const { port } = await serverOn(0);
    const client = dial(`ws://127.0.0.1:${port}/nope`);
    const errors: unknown[] = [];
    client.messages$.subscribe({ error: (e) => errors.push(e) });
    await firstValueFrom(client.close$);
    expect(errors).toEqual([expect.objectContaining({ name: 'HandshakeError', status: 404 })]);
    expect(client.status.attempt).toBe(0);
  });

  it('retries a 503 refusal and then opens', async () => {
    let upgrades = 0;
    const { url } = await serverOn(0, {
      authenticate: () => {
        if (++upgrades === 1) throw refuseWith(503, 'busy');
        return true;
      },
    });
    const client = dial(url);
    const statuses: ClientStatus[] = [];
    client.status$.subscribe((s) => statuses.push(s));
    await until(client, 'open');
    expect(statuses.map((s) => s.state)).toEqual(['connecting', 'reconnecting', 'open']);
    expect(statuses[1]).toMatchObject({ attempt: 1, error: { name: 'HandshakeError', status: 503, body: 'busy\n' } });
    expect(upgrades).toBe(2);
  });

  it('retries a handshake that times out (a server that accepts TCP and never answers)', async () => {
    const silent = createServer((socket) => socket.on('error', () => {}));
    const sockets = new Set<Socket>();
    silent.on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const client = dial(`ws://127.0.0.1:${port}/ws`, { handshakeTimeout: 50, reconnect: { initialDelay: 5, maxAttempts: 1 } });
      const statuses: ClientStatus[] = [];
      client.status$.subscribe((s) => statuses.push(s));
      await firstValueFrom(client.close$);
      expect(statuses.map((s) => s.state)).toEqual(['connecting', 'reconnecting', 'closed']);
      const error = client.status.error as SocketCloseError;
      expect(error).toBeInstanceOf(SocketCloseError);
      expect((error.cause as Error).message).toBe('Opening handshake has timed out');
      expect(sockets.size).toBe(2);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('closes with 1000 when the last messages$ subscriber unsubscribes; the server sees a clean 1000', async () => {
    const { server, url } = await serverOn(0);
    const serverSide = firstValueFrom(server.connections$);
    const client = dial(url);
    const subscription = client.messages$.subscribe();
    await until(client, 'open');
    const socket = await serverSide;
    subscription.unsubscribe();
    expect(await firstValueFrom(socket.close$)).toEqual({ code: 1000, reason: '', wasClean: true });
    expect(await firstValueFrom(client.close$)).toEqual({ code: 1000, reason: '', wasClean: true });
  });

  describe('offline queue while the server is down', () => {
    /** A port nobody listens on (yet), and a way to start a recording server there. */
    async function downServer() {
      const { server, port } = await listen();
      await server.close();
      const received: string[] = [];
      return {
        url: `ws://127.0.0.1:${port}/ws`,
        received,
        start: async () => record((await serverOn(port)).server, received),
      };
    }

    it('error: holds up to its limits, then BackpressureError to send() (errors$ for next())', async () => {
      const down = await downServer();
      const client = dial(down.url, { offline: { maxMessages: 3, maxBytes: 100 } });
      const errors = collect<RxjsWsError>(client.errors$);
      await until(client, 'reconnecting');
      for (const m of ['1', '2', '3']) client.send(m);
      expect(() => client.send('4')).toThrow(BackpressureError);
      client.next('5');
      expect(errors.values).toEqual([expect.objectContaining({ name: 'BackpressureError', policy: 'error' })]);
      expect(client.bufferedAmount).toBe(3);
      await down.start();
      await until(client, 'open');
      client.next('6');
      await delay(30);
      expect(down.received).toEqual(['1', '2', '3', '6']);
    });

    it('drop-oldest keeps the newest N', async () => {
      const down = await downServer();
      const client = dial(down.url, { offline: { policy: 'drop-oldest', maxMessages: 3 } });
      const errors = collect<RxjsWsError>(client.errors$);
      for (let i = 1; i <= 10; i++) client.next(String(i));
      expect(errors.values.reduce((sum, e) => sum + (e as FrameDroppedError).count, 0)).toBe(7);
      await down.start();
      await until(client, 'open');
      await delay(30);
      expect(down.received).toEqual(['8', '9', '10']);
    });

    it('error refuses what does not fit, by bytes too', async () => {
      const down = await downServer();
      const client = dial(down.url, { offline: { policy: 'error', maxBytes: 4 } });
      client.send('ab');
      client.send('cd');
      expect(() => client.send('e')).toThrow(expect.objectContaining({ name: 'BackpressureError', policy: 'error' }));
      await down.start();
      await until(client, 'open');
      await delay(30);
      expect(down.received).toEqual(['ab', 'cd']);
    });
  });

  it('passes headers to the server (authenticate sees the token)', async () => {
    const { server, url } = await serverOn<{ user: string; protocol?: string }>(0, {
      authenticate: (req) =>
        req.headers.authorization === 'Bearer s3cret' ? { user: 'ann', protocol: req.headers['sec-websocket-protocol'] } : false,
    });
    const accepted = firstValueFrom(server.connections$);
    const client = dial(url, { headers: { Authorization: 'Bearer s3cret' }, protocols: ['chat.v1'] });
    await until(client, 'open');
    const socket = await accepted;
    expect(socket.auth).toEqual({ user: 'ann', protocol: 'chat.v1' });
    const refused = dial(url, { headers: { Authorization: 'Bearer wrong' } });
    await firstValueFrom(refused.close$);
    expect(refused.status.error).toMatchObject({ status: 401 });
  });

  it('with acknowledgements at the application level, over plain connections killed mid-stream, nothing is lost', async () => {
    // Server: handles id n only right after n - 1, per session, and acknowledges cumulatively.
    const handled: number[] = [];
    const lastSeen = new Map<string, number>();
    const { server, url } = await serverOn<{ session: string }>(0, {
      authenticate: (req) => ({ session: String(req.headers['x-session']) }),
    });
    server.connections$.subscribe((socket) => {
      socket.messages$.subscribe({
        next: (frame) => {
          const { id } = JSON.parse(frame.toString()) as { id: number };
          const seen = lastSeen.get(socket.auth.session) ?? 0;
          if (id === seen + 1) {
            handled.push(id);
            lastSeen.set(socket.auth.session, id);
          }
          socket.next(JSON.stringify({ ack: lastSeen.get(socket.auth.session) ?? 0 }));
        },
        error: () => {},
      });
    });

    // Client: keeps what is unacknowledged, resends it in order on every open.
    const client = dial(url, { headers: { 'X-Session': 'abc' } });
    const unacked = new Map<number, string>();
    let lastId = 0;
    const publish = (body: unknown) => {
      const id = ++lastId;
      const frame = JSON.stringify({ id, body });
      unacked.set(id, frame);
      if (client.state === 'open') client.next(frame);
    };
    client.status$.pipe(filter((s) => s.state === 'open')).subscribe(() => {
      for (const frame of unacked.values()) client.socket!.next(frame);
    });
    client.messages$.subscribe((frame) => {
      const { ack } = JSON.parse(frame.toString()) as { ack?: number };
      if (typeof ack === 'number') {
        for (const id of unacked.keys()) {
          if (id > ack) break;
          unacked.delete(id);
        }
      }
    });

    let kills = 0;
    for (let i = 0; i < 300; i++) {
      publish(i);
      if (i % 60 === 30) {
        for (const socket of server.sockets) socket.terminate(); // abrupt: whatever is in flight is lost
        kills++;
      }
      await delay(1);
    }
    for (let i = 0; i < 300 && unacked.size > 0; i++) await delay(10);
    expect(kills).toBe(5);
    expect(unacked.size).toBe(0);
    expect(handled).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    client.close();
    await firstValueFrom(client.close$);
  });

  it('leaves nothing behind after the final close: no ws listener, heartbeat timer or subscription', async () => {
    const { server, url } = await serverOn(0, { heartbeat: false });
    server.connections$.subscribe((socket) => socket.messages$.subscribe(socket));
    const made: WebSocket[] = [];
    const client = dial(url, { WebSocket: recording(made) });
    let live = 0;
    for (const stream of [client.messages$, client.close$, client.writable$, client.status$] as Observable<unknown>[]) {
      live++;
      stream.subscribe({ error: () => live--, complete: () => live-- });
    }
    await until(client, 'open');
    expect(HeartbeatMonitor.timers).toBe(1); // the client's heartbeat, on by default
    client.socket!.terminate(); // abrupt: 1006, retried
    await until(client, 'reconnecting');
    await until(client, 'open');
    client.next('bye');
    client.close();
    await firstValueFrom(client.close$);
    expect(live).toBe(0);
    expect(HeartbeatMonitor.timers).toBe(0);
    expect(client.socket).toBeNull();
    expect(made).toHaveLength(2);
    for (const ws of made) {
      expect(ws.readyState).toBe(WebSocket.CLOSED);
      expect(['open', 'message', 'close', 'error', 'pong', 'unexpected-response'].map((e) => ws.listenerCount(e))).toEqual([0, 0, 0, 0, 0, 0]);
    }
  });
});

/** A `WebSocket` option that is ws's own, recording each instance. */
function recording(into: WebSocket[]): WebSocketFactory {
  return class extends WebSocket {
    constructor(url: string, protocols: string[], options: ClientOptions) {
      super(url, protocols, options);
      into.push(this);
    }
  };
}

describe('closing a client between connections', () => {
  it('completes messages$ (no error) when the app closes while a connection attempt fails', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => resolve(free)); // nothing listens there now: refused
      });
    });
    const client = connect(`ws://127.0.0.1:${port}/ws`, { reconnect: { initialDelay: 10_000 } });
    let ended: string | undefined;
    client.messages$.subscribe({ error: (e: Error) => (ended = `error ${e.message}`), complete: () => (ended = 'complete') });
    client.close();
    await firstValueFrom(client.close$);
    expect(ended).toBe('complete');
    expect(HeartbeatMonitor.timers).toBe(0);
  });
});
