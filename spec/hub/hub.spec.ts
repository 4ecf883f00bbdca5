/**
 * The hub in one process: membership, leaving on close, presence in virtual
 * time (alone and over a MemoryBus, as several processes would), and a
 * broadcast to 1,000 real sockets with one that never reads.
 */
import type { Socket } from 'node:net';
import { filter, firstValueFrom, map, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { WebSocket } from 'ws';
import { FrameDroppedError, InvalidArgumentError, InvalidFrameError, PreparedFrame, type RxSocket } from '../../src';
import { createHub, HubClosedError } from '../../src/hub/hub';
import type { AdapterHost, AdapterLink, HubAdapter, HubEnvelope } from '../../src/hub/adapter';
import { memoryAdapter, MemoryBus } from '../../src/hub/memory';
import { MAX_ORIGINS } from '../../src/hub/relay';
import * as prepared from '../../src/socket/prepared';
import { testSocket } from '../../src/testing';
import { fakeSocket } from '../support/fake';
import { closed, listen, open, rawClient } from '../support/net';

describe('createHub()', () => {
  it('validates its options and arguments when given', () => {
    expect(() => createHub({ presenceInterval: 0 })).toThrow('Expected `presenceInterval` to be an integer >= 1, got `0` (number)');
    expect(() => createHub({ adapter: {} as HubAdapter })).toThrow(InvalidArgumentError);
    expect(() => memoryAdapter({ bus: {} as MemoryBus })).toThrow('Expected `bus` to be a MemoryBus, got `{}` (object)');
    const hub = createHub();
    const { socket } = fakeSocket();
    expect(() => hub.join(socket, '')).toThrow('Expected `topic` to be a non-empty string of at most 256 characters, got `""` (string)');
    expect(() => hub.join({} as RxSocket<unknown>, 'a')).toThrow('Expected `socket` to be an RxSocket or an RxSession, got `{}` (object)');
    expect(() => hub.publish('a', 42 as never)).toThrow(InvalidFrameError);
    expect(() => hub.publish('a', 'x', { except: 'me' as never })).toThrow('Expected `options.except` to be an RxSocket');
    expect(() => hub.members$(7 as never)).toThrow(InvalidArgumentError);
  });
});

describe('membership', () => {
  it('joins and leaves topics, once each', () => {
    const hub = createHub();
    const a = fakeSocket().socket;
    const b = fakeSocket().socket;
    expect(hub.join(a, 'x')).toBe(true);
    expect(hub.join(a, 'x')).toBe(false);
    expect(hub.join(a, 'y')).toBe(true);
    expect(hub.join(b, 'x')).toBe(true);
    expect([...hub.members('x')]).toEqual([a, b]);
    expect(hub.topics.sort()).toEqual(['x', 'y']);
    expect(hub.stats).toMatchObject({ topics: 2, sockets: 2 });

    expect(hub.leave(a, 'x')).toBe(true);
    expect(hub.leave(a, 'x')).toBe(false);
    expect(hub.leave(b, 'nope')).toBe(false);
    expect([...hub.members('x')]).toEqual([b]);
    hub.leaveAll(a);
    expect(hub.topics).toEqual(['x']);
    expect(hub.stats).toMatchObject({ topics: 1, sockets: 1 });
  });

  it('does not take a closed socket, and takes nothing once closed', async () => {
    const hub = createHub();
    const { socket, fake } = fakeSocket();
    fake.receiveClose(1000);
    expect(hub.join(socket, 'x')).toBe(false);
    const errors = firstValueFrom(hub.errors$.pipe(toArray()));
    await hub.close();
    expect(await errors).toEqual([]); // no broker to refuse anything; completes with the hub
    expect(hub.join(fakeSocket().socket, 'x')).toBe(false);
    expect(() => hub.publish('x', 'late')).toThrow(HubClosedError);
    expect(await hub.close()).toBeUndefined(); // idempotent
  });

  it('holds one close$ subscription per socket, released when it leaves its last topic', () => {
    const hub = createHub();
    const { socket } = fakeSocket();
    const subscribe = jest.spyOn(socket.close$, 'subscribe');
    hub.join(socket, 'x');
    hub.join(socket, 'y');
    expect(subscribe).toHaveBeenCalledTimes(1);
    const subscription = subscribe.mock.results[0]!.value as { closed: boolean };
    hub.leave(socket, 'x');
    expect(subscription.closed).toBe(false);
    hub.leave(socket, 'y');
    expect(subscription.closed).toBe(true);
  });

  it('leaves every topic when a real socket closes, and keeps nothing of it', async () => {
    const hub = createHub();
    const { server, url } = await listen(ONE_ADDRESS);
    const joined = firstValueFrom(server.connections$.pipe(take(200), toArray()));
    const clients = await Promise.all(Array.from({ length: 200 }, () => open(url())));
    for (const socket of await joined) {
      hub.join(socket, 'all');
      hub.join(socket, `own-${hub.stats.sockets}`);
    }
    expect(hub.stats).toMatchObject({ topics: 201, sockets: 200 });
    const gone = clients.map((c) => closed(c));
    clients.forEach((c, i) => (i % 2 === 0 ? c.close(1000) : c.terminate()));
    await Promise.all(gone);
    await waitFor(() => server.sockets.size === 0);
    expect(hub.stats).toMatchObject({ topics: 0, sockets: 0 });
    expect(hub.topics).toEqual([]);
    expect(hub.members('all').size).toBe(0);
  });
});

describe('publish()', () => {
  it('sends text as text and binary as binary, skips `except`, and returns the local count', async () => {
    const hub = createHub();
    const { server, url } = await listen();
    const sockets = firstValueFrom(server.connections$.pipe(take(2), toArray()));
    const [c1, c2] = await Promise.all([open(url()), open(url())]);
    const [s1, s2] = await sockets;
    hub.join(s1!, 'room');
    hub.join(s2!, 'room');
    const got = (c: WebSocket) => new Promise<unknown[]>((resolve) => {
      const frames: unknown[] = [];
      c.on('message', (data, isBinary) => frames.push(isBinary ? [...(data as Buffer)] : String(data)) === 2 && resolve(frames));
    });
    const [f1, f2] = [got(c1!), got(c2!)];
    expect(hub.publish('room', 'hello', { except: s1! })).toBe(1);
    expect(hub.publish('room', new Uint8Array([1, 2]))).toBe(2);
    expect(hub.publish('room', 'for s1 only', { except: s2! })).toBe(1);
    expect(hub.publish('empty', 'nobody')).toBe(0);
    expect(await f1).toEqual([[1, 2], 'for s1 only']);
    expect(await f2).toEqual(['hello', [1, 2]]);
    expect(hub.stats).toMatchObject({ published: 4, delivered: 4 });
  });
});

describe('members$ (presence) in virtual time', () => {
  let scheduler: TestScheduler;
  beforeEach(() => (scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))));
  const n = { 0: 0, 1: 1, 2: 2, 3: 3 };

  it('as docs/drafts/scaling.md shows it', () => {
    const testScheduler = scheduler;
    testScheduler.run(({ cold, expectObservable }) => {
      const hub = createHub({ scheduler: testScheduler });
      const [a, b] = [testSocket(testScheduler), testSocket(testScheduler)];
      cold('-a-b').subscribe((k) => hub.join({ a, b }[k]!.socket, 'room'));
      b.inbound('-----|'); // b's peer closes at 5 ms
      cold('--------x').subscribe(() => void hub.close());
      expectObservable(hub.members$('room')).toBe('01-2-1--|', { 0: 0, 1: 1, 2: 2 });
    });
  });

  it('emits the count now, then on every join, leave and close; completes when the hub closes', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const hub = createHub({ scheduler });
      const sockets = { a: testSocket(scheduler), b: testSocket(scheduler), c: testSocket(scheduler) };
      cold('-a-b-c').subscribe((k) => hub.join(sockets[k as 'a'].socket, 'room'));
      sockets.c.inbound('------|'); // c's peer closes at 6 ms
      cold('--------b').subscribe((k) => hub.leave(sockets[k as 'b'].socket, 'room'));
      cold('----------x').subscribe(() => void hub.close());
      expectObservable(hub.members$('room')).toBe('01-2-32-1-|', n);
      expectObservable(hub.members$('other')).toBe('0---------|', n);
    });
  });

  it('adds up the members of every hub on a bus, and counts a silent one out after three intervals', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const bus = new MemoryBus(scheduler);
      const options = { scheduler, presenceInterval: 100 };
      const a = createHub({ ...options, adapter: memoryAdapter({ bus }) });
      const b = createHub({ ...options, adapter: memoryAdapter({ bus }) });
      const crash = crashable(bus);
      const c = createHub({ ...options, adapter: crash.adapter });
      cold('-a').subscribe(() => a.join(testSocket(scheduler).socket, 'room'));
      cold('--b').subscribe(() => b.join(testSocket(scheduler).socket, 'room'));
      cold('---c').subscribe(() => c.join(testSocket(scheduler).socket, 'room'));
      cold('----x').subscribe(() => crash.now()); // c goes silent with its member counted
      cold('-----x').subscribe(() => void b.close()); // b says goodbye
      cold('450ms x').subscribe(() => [a, c].forEach((hub) => void hub.close()));
      // c announced at 3 ms; a's tick at 400 ms forgets what is older than 100 ms.
      expectObservable(a.members$('room')).toBe('0123-2 394ms 1 49ms |', n);
      expectObservable(b.members$('room')).toBe('0123-|', n);
    });
  });

  it('delivers a message from another hub once, even when the broker delivers it twice', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const bus = new MemoryBus(scheduler);
      const a = createHub({ scheduler, adapter: twice(bus) });
      const b = createHub({ scheduler, adapter: memoryAdapter({ bus }) });
      const member = testSocket(scheduler, { answerClose: false });
      b.join(member.socket, 'room');
      cold('-a-b').subscribe((text) => a.publish('room', text));
      cold('-----x').subscribe(() => [a, b].forEach((hub) => void hub.close()));
      // The fake records what ws.send() got: a prepared text frame's payload, as a Buffer.
      expectObservable(member.sent$.pipe(map(String))).toBe('-a-b', { a: 'a', b: 'b' });
      scheduler.schedule(() => expect(b.stats).toMatchObject({ received: 2, delivered: 2, duplicates: 2 }), 5);
    });
  });
});

describe('exactly once across hubs', () => {
  let scheduler: TestScheduler;
  beforeEach(() => (scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))));

  it('delivers a message once when its resend comes after an 11-minute outage', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const bus = new MemoryBus(scheduler);
      const outage = resending(bus);
      const a = createHub({ scheduler, adapter: outage.adapter });
      const b = createHub({ scheduler, adapter: memoryAdapter({ bus }) });
      const member = testSocket(scheduler, { answerClose: false });
      b.join(member.socket, 'room');
      cold('-x').subscribe(() => a.publish('room', 'once'));
      // a's connection dropped before the broker's acknowledgement came: 11 minutes later it sends it again.
      cold('- 11m x').subscribe(() => outage.resend());
      cold('- 12m x').subscribe(() => [a, b].forEach((hub) => void hub.close()));
      expectObservable(member.sent$.pipe(map(String))).toBe('-x', { x: 'once' });
      scheduler.schedule(() => expect(b.stats).toMatchObject({ received: 1, delivered: 1, duplicates: 1 }), 12 * 60_000);
    });
  });

  it('remembers the last sequence number of the MAX_ORIGINS (10,000) hubs heard from most recently, and of no more', () => {
    scheduler.run(() => {
      const tap = tapped();
      const hub = createHub({ scheduler, adapter: tap.adapter });
      const envelope = (i: number): HubEnvelope => ({
        origin: i.toString(16).padStart(32, '0'),
        seq: 1,
        topic: 'room',
        kind: 'text',
        payload: Buffer.from('x'),
        count: 0,
      });
      expect(MAX_ORIGINS).toBe(10_000);
      for (let i = 0; i <= MAX_ORIGINS; i++) tap.host!.receive(envelope(i));
      expect(hub.stats).toMatchObject({ received: MAX_ORIGINS + 1, duplicates: 0 });
      tap.host!.receive(envelope(1)); // remembered: a duplicate
      tap.host!.receive(envelope(0)); // heard from least recently, and forgotten for the 10,000 after it
      expect(hub.stats).toMatchObject({ received: MAX_ORIGINS + 2, duplicates: 1 });
      void hub.close();
    });
  });
});

describe('a broadcast to 1,000 sockets', () => {
  const MESSAGES = 100;

  it('reaches every member in order, encoded once, while one that never reads is closed with 1013', async () => {
    const { hub, clients, sockets, slow, slowSocket } = await room(999, { policy: 'close', maxMessages: 64 });
    const prepare = jest.spyOn(prepared, 'prepare');
    const next = [sockets[0]!, sockets[500]!].map((s) => jest.spyOn(s, 'next'));
    const received = clients.map((c) => collect(c, MESSAGES));
    const dropped = firstValueFrom(slowSocket.errors$.pipe(filter((e) => e instanceof FrameDroppedError)));

    const started = performance.now();
    for (let i = 0; i < MESSAGES; i++) hub.publish('all', `message ${i}`);
    const publishMs = performance.now() - started;

    expect(prepare).toHaveBeenCalledTimes(MESSAGES); // once per message, not per member
    const frames = next[0]!.mock.calls.map(([frame]) => frame);
    expect(frames[0]).toBeInstanceOf(PreparedFrame);
    expect(next[1]!.mock.calls.map(([frame]) => frame)).toEqual(frames);
    expect(frames.every((frame, i) => frame === next[1]!.mock.calls[i]![0])).toBe(true); // the same objects
    const expected = Array.from({ length: MESSAGES }, (_, i) => `message ${i}`);
    for (const got of await Promise.all(received)) expect(got).toEqual(expected);
    expect(await dropped).toMatchObject({ why: 'close' });
    expect(slowSocket.state).toBe('closing');
    expect(await readUntilClose(slow)).toBe(1013);
    expect(publishMs).toBeLessThan(2000);
  });

  it('with drop-oldest, the slow member loses the oldest (counted) and gets the newest, in order', async () => {
    const { hub, clients, slow, slowSocket } = await room(99, { policy: 'drop-oldest', maxMessages: 16 });
    const received = clients.map((c) => collect(c, MESSAGES));
    for (let i = 0; i < MESSAGES; i++) hub.publish('all', `message ${i}`);
    for (const got of await Promise.all(received)) expect(got).toHaveLength(MESSAGES);
    expect(slowSocket.stats.dropped).toBe(MESSAGES - 16);
    const frames = await readFrames(slow, 17); // the 8 MiB filler, then what the queue kept
    expect(frames.slice(1).map(String)).toEqual(Array.from({ length: 16 }, (_, i) => `message ${MESSAGES - 16 + i}`));
  });
});

/** Every client of these tests comes from 127.0.0.1: the per-address limits are raised for them. */
const ONE_ADDRESS = { maxConnectionsPerAddress: 10_000, handshakesPerAddress: Infinity } as const;

/** `fast` ws clients and one raw client that never reads, all in topic "all"; the raw one's buffers are full. */
async function room(fast: number, outbound: { policy: 'close' | 'drop-oldest'; maxMessages: number }) {
  const hub = createHub();
  const { server, port, url } = await listen({ outbound, ...ONE_ADDRESS });
  const accepted = firstValueFrom(server.connections$.pipe(take(fast + 1), toArray()));
  const clients: WebSocket[] = [];
  for (let i = 0; i < fast; i += 100) {
    clients.push(...(await Promise.all(Array.from({ length: Math.min(100, fast - i) }, () => open(url())))));
  }
  const { socket: slow } = await rawClient(port, '/slow');
  const sockets = await accepted;
  for (const socket of sockets) hub.join(socket, 'all');
  const slowSocket = sockets.find((s) => s.url === '/slow')!;
  // More than the kernel's buffers take: what follows queues in rxjs-ws, under the policy.
  slowSocket.next(Buffer.alloc(8 << 20));
  return { hub, clients, sockets: sockets.filter((s) => s !== slowSocket), slow, slowSocket };
}

function collect(client: WebSocket, count: number): Promise<string[]> {
  return new Promise((resolve) => {
    const got: string[] = [];
    client.on('message', (data) => got.push(String(data)) === count && resolve(got));
  });
}

/** Reads server frames from a raw client until `count` data frames have come. */
function readFrames(socket: Socket, count: number): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const frames: Buffer[] = [];
    const reader = frameReader((opcode, payload) => {
      if (opcode !== 8) frames.push(payload);
      if (frames.length === count) resolve(frames);
    });
    socket.on('data', reader);
    socket.resume();
  });
}

/** Reads a raw client until the server's close frame; resolves with its code. */
function readUntilClose(socket: Socket): Promise<number> {
  return new Promise((resolve) => {
    socket.on('data', frameReader((opcode, payload) => opcode === 8 && resolve(payload.readUInt16BE(0))));
    socket.resume();
  });
}

/** Incremental parser of unmasked server frames (the 8 MiB filler arrives in many chunks). */
function frameReader(onFrame: (opcode: number, payload: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      if (pending.length < 2) return;
      const short = pending[1]! & 0x7f;
      const header = short === 126 ? 4 : short === 127 ? 10 : 2;
      if (pending.length < header) return;
      const length = short === 126 ? pending.readUInt16BE(2) : short === 127 ? Number(pending.readBigUInt64BE(2)) : short;
      if (pending.length < header + length) return;
      onFrame(pending[0]! & 0x0f, pending.subarray(header, header + length));
      pending = pending.subarray(header + length);
    }
  };
}

/** A bus adapter that can go silent at once, as a crashed process does. */
function crashable(bus: MemoryBus): { adapter: HubAdapter; now: () => void } {
  let alive = true;
  const adapter: HubAdapter = {
    open: (host) => {
      const link = memoryAdapter({ bus }).open({ receive: (e) => alive && host.receive(e), subscribed: (t) => alive && host.subscribed(t) });
      return delegate(link, (envelope) => alive && link.publish(envelope));
    },
  };
  return { adapter, now: () => (alive = false) };
}

/** A bus adapter whose broker delivers everything twice (as after a resend). */
function twice(bus: MemoryBus): HubAdapter {
  return {
    open: (host) => {
      const link = memoryAdapter({ bus }).open(host);
      return delegate(link, (envelope) => (link.publish(envelope), link.publish(envelope)));
    },
  };
}

/** A bus adapter that can send again everything it sent, as an outbox does after a reconnect. */
function resending(bus: MemoryBus): { adapter: HubAdapter; resend: () => void } {
  const sent: HubEnvelope[] = [];
  let link: AdapterLink | null = null;
  const adapter: HubAdapter = {
    open: (host) => {
      const opened = memoryAdapter({ bus }).open(host);
      link = opened;
      return delegate(opened, (envelope) => (sent.push(envelope), opened.publish(envelope)));
    },
  };
  return { adapter, resend: () => sent.forEach((envelope) => link!.publish(envelope)) };
}

/** A shared adapter that sends nothing and lets the test hand envelopes to the hub. */
function tapped(): { adapter: HubAdapter; host: AdapterHost | null } {
  const tap: { adapter: HubAdapter; host: AdapterHost | null } = {
    host: null,
    adapter: {
      open: (host) => {
        tap.host = host;
        const link = memoryAdapter({ bus: new MemoryBus() }).open({ receive: () => {}, subscribed: () => {} });
        return delegate(link, () => {});
      },
    },
  };
  return tap;
}

function delegate(link: AdapterLink, publish: (envelope: HubEnvelope) => void): AdapterLink {
  return {
    shared: link.shared,
    status$: link.status$,
    get stats() {
      return link.stats;
    },
    subscribe: (topic) => link.subscribe(topic),
    unsubscribe: (topic) => link.unsubscribe(topic),
    publish,
    close: () => link.close(),
  };
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
