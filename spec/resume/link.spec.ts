/**
 * The resumable-session state machine in virtual time: `Link` on fake
 * connections (acknowledgements, window, resend, protocol errors), then a
 * `SessionRegistry` and `connect()` over in-memory connections
 * (spec/support/resume.ts: ttl, unknown ids, eviction, handshakes, closes),
 * then real sockets for what only negotiation shows (plain and resume ends
 * on either side).
 */
import type { AddressInfo } from 'node:net';
import { filter, firstValueFrom, map, Subject, take, toArray, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { WebSocket, WebSocketServer } from 'ws';
import {
  connect,
  FrameDroppedError,
  ResumeProtocolError,
  RxSocket,
  type ClientStatus,
  type CloseInfo,
  type ConnectOptions,
  type Outbound,
  type RxClient,
  type RxjsWsError,
  type RxSession,
  type WebSocketFactory,
} from '../../src';
import { ACK_DELAY, ACK_EVERY, handshakeFrame, Link, parseHandshake, RESUME_PROTOCOL, type Hello, type Welcome } from '../../src/resume/link';
import { SessionRegistry, type RegistryConfig } from '../../src/resume/registry';
import { resolveOutbound } from '../../src/socket/outbound-options';
import type { WireEvent } from '../../src/testing/fake-ws';
import { listen, opened as released } from '../support/net';
import { until } from '../support/raw';
import { AcceptedWs, bench, DialedWs, registryConfig, type Bench } from '../support/resume';

function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

const ACK = (n: number) => `\u0000A${n}`;
const BYE = '\u0000B';
const numbered = (prefix: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);
/** Data frames of a wire log: no handshake, acknowledgement or bye. */
const data = (frames: string[]) => frames.filter((f) => f.charCodeAt(0) !== 0 || f.charCodeAt(1) === 0);
const isProtocolError = (e: unknown) => e instanceof ResumeProtocolError && e.code === 'RXJS_WS_RESUME_PROTOCOL';

// ---------------------------------------------------------------------------------------------
// Link on fake connections

/** A connection a link writes to: records what it sent, and emits it on `out$`. */
class FakeConnection {
  state = 'open';
  readonly sent: Outbound[] = [];
  readonly out$ = new Subject<string>();
  next(frame: Outbound): void {
    this.sent.push(frame);
    this.out$.next(String(frame));
  }
}

function makeLink(scheduler: SchedulerLike, maxBytes = 1 << 20) {
  const reports: FrameDroppedError[] = [];
  let byes = 0;
  const link = new Link(maxBytes, resolveOutbound(undefined), scheduler, {
    bye: () => byes++,
    report: (e) => reports.push(e),
    changed: () => {},
  });
  return { link, reports, byes: () => byes };
}

/** A link attached to a fresh writable connection, the peer at `peerReceived` with window `peerWindow`. */
function attached(scheduler: SchedulerLike, { maxBytes = 1 << 20, peerReceived = 0, peerWindow = 1 << 20 } = {}) {
  const made = makeLink(scheduler, maxBytes);
  const connection = new FakeConnection();
  made.link.attach(connection, peerReceived, peerWindow);
  made.link.writable(true);
  return { ...made, connection };
}

/** Ten-byte frames `f01.......` … */
const tenBytes = (i: number) => `f${String(i).padStart(2, '0')}`.padEnd(10, '.');
const tens = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => tenBytes(from + i));

describe('Link: acknowledgements are batched', () => {
  it(`a burst: one acknowledgement per ${ACK_EVERY} frames, the rest ${ACK_DELAY} ms after the first one not acknowledged`, () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const { link, connection } = attached(scheduler);
      expectObservable(connection.out$).toBe('(abc) 15ms d', { a: ACK(64), b: ACK(128), c: ACK(192), d: ACK(200) });
      scheduler.schedule(() => {
        for (let i = 0; i < 200; i++) expect(link.read(`m${i}`)).toBe(`m${i}`);
      });
    });
  });

  it(`steady traffic (a frame a ms): one acknowledgement per ${ACK_DELAY} ms or so, not one per frame`, () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable, cold }) => {
      const { link, connection } = attached(scheduler);
      // Frames at 0 … 99. The timer set by the first unacknowledged frame fires after the frame of its own ms.
      expectObservable(connection.out$).toBe('20ms a 20ms b 20ms c 20ms d 20ms e', { a: ACK(21), b: ACK(42), c: ACK(63), d: ACK(84), e: ACK(100) });
      cold('m'.repeat(100)).subscribe((m) => link.read(m));
    });
  });

  it('a quarter of the peer’s window read: acknowledged at once (the sender never waits for the timer to have room)', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const { link, connection } = attached(scheduler, { peerWindow: 1000 });
      // 100-byte frames: 3 of them are 300 bytes, 4 × 300 ≥ 1000.
      expectObservable(connection.out$).toBe('(abc)', { a: ACK(3), b: ACK(6), c: ACK(9) });
      scheduler.schedule(() => {
        for (let i = 0; i < 9; i++) link.read('x'.repeat(100));
      });
    });
  });

  it('while the connection does not take more, the acknowledgement waits, and goes with the frames once it does', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const { link, connection } = attached(scheduler);
      expectObservable(connection.out$).toBe('50ms (ab)', { a: 'out', b: ACK(3) });
      scheduler.schedule(() => {
        link.writable(false);
        for (let i = 0; i < 3; i++) link.read('x');
        link.offer('out');
      });
      scheduler.schedule(() => link.writable(true), 50);
    });
  });

  it('a text frame that starts with U+0000 travels with one more, and is read back as it was', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { link, connection } = attached(scheduler);
      link.offer('\u0000A1');
      link.offer('\u0000');
      expect(connection.sent).toEqual(['\u0000\u0000A1', '\u0000\u0000']);
      expect(link.read('\u0000\u0000A1')).toBe('\u0000A1');
      expect(link.read('\u0000\u0000')).toBe('\u0000');
      expect(link.received).toBe(2);
    });
  });
});

describe('Link: the window', () => {
  it('the sender stops at maxBytes unacknowledged, and goes on as acknowledgements come', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { link, connection } = attached(scheduler, { maxBytes: 100 });
      for (let i = 1; i <= 30; i++) expect(link.offer(tenBytes(i))).toBe('queued');
      expect(connection.sent).toEqual(tens(1, 10));
      expect([link.open, link.pending, link.bytes]).toEqual([false, 30, 300]);
      link.read(ACK(5));
      expect(connection.sent).toEqual(tens(1, 15));
      // Acknowledged while the connection takes nothing: sent once it does.
      link.writable(false);
      link.read(ACK(15));
      expect(connection.sent).toEqual(tens(1, 15));
      link.writable(true);
      expect(connection.sent).toEqual(tens(1, 25));
      link.read(ACK(25));
      expect(connection.sent).toEqual(tens(1, 30));
      expect(link.open).toBe(true); // 50 bytes in flight, nothing waiting
      link.read(ACK(30));
      expect([link.open, link.pending, link.bytes]).toEqual([true, 0, 0]);
    });
  });

  it('a frame larger than the window goes alone', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { link, connection } = attached(scheduler, { maxBytes: 100 });
      link.offer('x'.repeat(500));
      link.offer('y');
      expect(connection.sent).toEqual(['x'.repeat(500)]);
      link.read(ACK(1));
      expect(connection.sent).toEqual(['x'.repeat(500), 'y']);
    });
  });
});

describe('Link: after a drop', () => {
  it('sends again exactly what the peer did not take, in order, then what waited', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { link, connection } = attached(scheduler);
      for (const f of numbered('f', 1, 10)) link.offer(f);
      link.read(ACK(4));
      link.detach();
      link.offer('f11'); // offered while away: waits
      const next = new FakeConnection();
      // The peer says it took 7 (its ack of 5–7 was lost with the connection).
      link.attach(next, 7, 1 << 20);
      expect(next.sent).toEqual([]); // nothing until the connection takes it
      link.writable(true);
      expect(next.sent).toEqual(numbered('f', 8, 11));
      expect(connection.sent).toEqual(numbered('f', 1, 10));
      expect(link.pending).toBe(4);
    });
  });

  it('a peer that claims fewer frames than it acknowledged, or more than were sent, breaks the protocol', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { link } = attached(scheduler);
      for (const f of numbered('f', 1, 5)) link.offer(f);
      link.read(ACK(2));
      link.detach();
      link.offer('never sent');
      for (const claim of [1, 6]) {
        let thrown: unknown;
        try {
          link.attach(new FakeConnection(), claim, 1 << 20);
        } catch (error) {
          thrown = error;
        }
        expect(isProtocolError(thrown)).toBe(true);
      }
      expect(() => link.attach(new FakeConnection(), 5, 1 << 20)).not.toThrow();
    });
  });

  it('an acknowledgement out of range, or malformed, breaks the protocol', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { link } = attached(scheduler);
      for (const f of numbered('f', 1, 3)) link.offer(f);
      link.read(ACK(2));
      for (const bad of [ACK(1), ACK(4), '\u0000A-1', '\u0000A', '\u0000A1x', '\u0000A 3', `\u0000A${'9'.repeat(16)}`, '\u0000Z', '\u0000H{}']) {
        let thrown: unknown;
        try {
          link.read(bad);
        } catch (error) {
          thrown = error;
        }
        expect([bad, isProtocolError(thrown)]).toEqual([bad, true]);
      }
      expect(link.read(ACK(3))).toBeUndefined();
      expect(link.pending).toBe(0);
    });
  });

  it('the peer’s bye: the host hears it, and the peer hears all that was taken', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { link, connection, byes } = attached(scheduler);
      link.read('a');
      link.read('b');
      expect(link.read(BYE)).toBeUndefined();
      expect(byes()).toBe(1);
      expect(connection.sent).toEqual([ACK(2)]);
    });
  });

  it('flush(): every frame it holds, its count and the bye, whatever the window', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { link, connection } = attached(scheduler, { maxBytes: 10 });
      link.offer(tenBytes(1));
      link.offer(tenBytes(2));
      link.read('in');
      link.flush();
      expect(connection.sent).toEqual([tenBytes(1), tenBytes(2), ACK(1), BYE]);
    });
  });

  it('handshake frames: hello and welcome round-trip; anything else is a ResumeProtocolError', () => {
    const hello: Hello = { s: null, r: 0, w: 1 };
    const welcome: Welcome = { s: 'abc_-9', r: 3, w: 10, resumed: true };
    expect(parseHandshake('H', handshakeFrame('H', hello))).toEqual(hello);
    expect(parseHandshake('W', handshakeFrame('W', welcome))).toEqual(welcome);
    expect(parseHandshake('W', handshakeFrame('W', { ...welcome, resumed: false, why: 'expired' }))).toEqual({ ...welcome, resumed: false, why: 'expired' });
    for (const bad of BAD_HELLOS) expect(() => parseHandshake('H', bad)).toThrow(ResumeProtocolError);
    for (const bad of [handshakeFrame('H', hello), handshakeFrame('W', { ...welcome, why: 'bored' as never }), '\u0000W{"s":"a","r":0,"w":1}']) {
      expect(() => parseHandshake('W', bad)).toThrow(ResumeProtocolError);
    }
  });
});

/** Hellos a server must refuse. */
const BAD_HELLOS = [
  'hello',
  Buffer.from('\u0000H{"s":null,"r":0,"w":1}'),
  '\u0000H{',
  '\u0000Hnull',
  '\u0000H{"s":null,"r":-1,"w":1}',
  '\u0000H{"s":null,"r":0.5,"w":1}',
  '\u0000H{"s":null,"r":0,"w":0}',
  '\u0000H{"s":null,"w":1}',
  '\u0000H{"s":"not an id!","r":0,"w":1}',
  `\u0000H{"s":"${'a'.repeat(65)}","r":0,"w":1}`,
  '\u0000W{"s":"abc","r":0,"w":1,"resumed":false}',
];

// ---------------------------------------------------------------------------------------------
// Sessions in virtual time: a SessionRegistry and connect() over in-memory connections

/** What a bench's client and the server's sessions receive and report. */
function watch(b: Bench, client: RxClient<RxSocket>) {
  const w = {
    got: [] as string[],
    taken: [] as string[],
    clientErrors: [] as RxjsWsError[],
    serverErrors: [] as RxjsWsError[],
    closes: [] as CloseInfo[],
    sessions: [] as RxSession[],
    opens: [] as ClientStatus['session'][],
    get session(): RxSession {
      return w.sessions[w.sessions.length - 1]!;
    },
  };
  client.messages$.subscribe((m) => w.got.push(String(m)));
  client.errors$.subscribe((e) => w.clientErrors.push(e));
  client.close$.subscribe((c) => w.closes.push(c));
  client.status$.subscribe((s) => s.state === 'open' && w.opens.push(s.session));
  b.registry.sessions$.subscribe((s) => watchSession(w, s));
  return w;
}

function watchSession(w: ReturnType<typeof watch>, s: RxSession): void {
  w.sessions.push(s);
  s.messages$.subscribe((m) => w.taken.push(String(m)));
  s.errors$.subscribe((e) => w.serverErrors.push(e));
  s.close$.subscribe((c) => w.closes.push(c));
}

const hello = (line: { clientText: string[] }) => parseHandshake('H', line.clientText[0]!);
const welcome = (line: { serverText: string[] }) => parseHandshake('W', line.serverText[0]!);

interface OnBench {
  readonly scheduler: TestScheduler;
  readonly helpers: Parameters<Parameters<TestScheduler['run']>[0]>[0];
  readonly b: Bench;
  readonly client: RxClient<RxSocket>;
  readonly w: ReturnType<typeof watch>;
  /** At `at`, the session sends `s<from>` … `s<to>` and the client `c<from>` … `c<to>`. */
  sendBoth(from: number, to: number, at: number): void;
}

/** Runs `test` in virtual time: a bench, a resume client of it, and what both ends receive and report. */
function onBench(test: (t: OnBench) => void, config: Partial<RegistryConfig> = {}, options: ConnectOptions = {}): void {
  const scheduler = newScheduler();
  scheduler.run((helpers) => {
    const b = bench(scheduler, config);
    const client = b.client({ resume: true, ...options });
    const w = watch(b, client);
    const sendBoth = (from: number, to: number, at: number) =>
      scheduler.schedule(() => {
        for (const f of numbered('s', from, to)) w.session.next(f);
        for (const f of numbered('c', from, to)) client.next(f);
      }, at);
    test({ scheduler, helpers, b, client, w, sendBoth });
  });
}

describe('sessions in virtual time', () => {
  it('a cut loses what is in flight both ways: each side sends again exactly what the other did not take, once, in order', () => {
    onBench(({ scheduler, b, client, w, sendBoth }) => {
      sendBoth(1, 50, 10);
      // These are on the wire (they arrive at 16) when the connection is cut, at 16: lost.
      sendBoth(51, 100, 15);
      scheduler.schedule(() => b.last().cut(), 16);
      scheduler.schedule(() => client.close(), 100);
      scheduler.flush();
      const [first, second] = b.lines;
      expect(b.lines).toHaveLength(2);
      // The first 50 each way arrived (at 11), but their acknowledgements were due at 31: none went out.
      expect(data(first!.serverText)).toEqual(numbered('s', 1, 100));
      expect(data(first!.clientText)).toEqual(numbered('c', 1, 100));
      expect(first!.serverText.length + first!.clientText.length).toBe(1 + 100 + 1 + 100);
      // The hello and the welcome say what each took: 50.
      expect(hello(second!)).toEqual({ s: w.session.id, r: 50, w: 1 << 20 });
      expect(welcome(second!)).toEqual({ s: w.session.id, r: 50, w: 1 << 20, resumed: true });
      expect(data(second!.serverText)).toEqual(numbered('s', 51, 100));
      expect(data(second!.clientText)).toEqual(numbered('c', 51, 100));
      expect(w.got).toEqual(numbered('s', 1, 100));
      expect(w.taken).toEqual(numbered('c', 1, 100));
      expect(w.sessions).toHaveLength(1);
      expect(w.session.connections).toBe(2);
      expect(w.opens).toEqual([{ state: 'new' }, { state: 'resumed' }]);
      expect([...w.clientErrors, ...w.serverErrors]).toEqual([]);
      expect(w.closes.map((c) => c.code)).toEqual([1000, 1000]);
    });
  });

  it('a welcome lost on the way: the client presents the session again, it resumes once more, nothing twice', () => {
    onBench(({ scheduler, b, client, w, sendBoth }) => {
      sendBoth(1, 10, 10);
      scheduler.schedule(() => b.last().cut(), 11); // before anything arrives
      // Redialled at 21, open at 22; the hello reaches the server at 23, the welcome and the frames sent again are on the wire: cut.
      scheduler.schedule(() => {
        expect(b.lines).toHaveLength(2);
        expect(w.session.connections).toBe(2);
        b.last().cut();
      }, 24);
      sendBoth(11, 20, 30);
      scheduler.schedule(() => client.close(), 100);
      scheduler.flush();
      expect(b.lines).toHaveLength(3);
      expect(data(b.lines[1]!.serverText)).toEqual(numbered('s', 1, 10));
      expect(data(b.lines[1]!.clientText)).toEqual([]); // the client sends nothing before its welcome
      expect(w.got).toEqual(numbered('s', 1, 20));
      expect(w.taken).toEqual(numbered('c', 1, 20));
      expect(w.sessions).toHaveLength(1);
      expect(w.session.connections).toBe(3);
      expect(w.opens).toEqual([{ state: 'new' }, { state: 'resumed' }]);
      expect([...w.clientErrors, ...w.serverErrors]).toEqual([]);
    });
  });

  it('the client comes back before the server noticed the drop: the old connection is cut, the session moves, nothing twice', () => {
    onBench(({ scheduler, b, client, w, sendBoth }) => {
      sendBoth(1, 10, 10);
      scheduler.schedule(() => {
        // Only the client's end sees it: the server's stays open, and goes on sending into the void.
        const line = b.last();
        line.dead = true;
        line.client.drop();
        for (const f of numbered('s', 11, 20)) w.session.next(f);
      }, 11);
      scheduler.schedule(() => {
        expect(b.lines[0]!.server.readyState).toBe(WebSocket.OPEN);
        expect(w.session.socket?.ws).toBe(b.lines[0]!.server);
      }, 22);
      scheduler.schedule(() => {
        expect(b.lines[0]!.server.terminated).toBe(true);
        expect(w.session.socket?.ws).toBe(b.lines[1]!.server);
      }, 24);
      scheduler.schedule(() => client.close(), 100);
      scheduler.flush();
      expect(w.got).toEqual(numbered('s', 1, 20));
      expect(w.taken).toEqual(numbered('c', 1, 10));
      expect(w.session.connections).toBe(2);
      expect([...w.clientErrors, ...w.serverErrors]).toEqual([]);
      expect(w.closes.map((c) => c.code)).toEqual([1000, 1000]);
    });
  });

  it('an app that reads late: the session stops reading at inboundHold, a cut meanwhile loses nothing, all arrive once when it reads', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const b = bench(scheduler, { inboundHold: 5 });
      const client = b.client({ resume: { maxBytes: 20 } });
      const errors: RxjsWsError[] = [];
      const taken: string[] = [];
      let session: RxSession | undefined;
      client.errors$.subscribe((e) => errors.push(e));
      b.registry.sessions$.subscribe((s) => ((session = s), s.errors$.subscribe((e) => errors.push(e))));
      scheduler.schedule(() => numbered('c', 1, 40).forEach((f) => client.next(f)), 5);
      scheduler.schedule(() => {
        // 5 held by the session, and the rest of the window (20 bytes) held by the connection, unread.
        expect(session!.memoryCost()).toBeGreaterThan(0);
        expect(b.last().socket!.stats.received).toBeGreaterThan(5);
        b.last().cut();
      }, 50);
      scheduler.schedule(() => session!.messages$.subscribe((m) => taken.push(String(m))), 100);
      scheduler.schedule(() => client.close(), 200);
      scheduler.flush();
      expect(taken).toEqual(numbered('c', 1, 40));
      expect(errors).toEqual([]);
    });
  });

  it('the client is away past ttl: the session ends (its unacknowledged frames reported), the client is told new, why expired', () => {
    onBench(({ scheduler, helpers: { expectObservable }, b, client, w }) => {
      // Opens at 3 (open, hello, welcome: 1 ms each). Cut at 12; the session expires at 1012. The server refuses
      // until 1495: the client dials every 11 ms (10 ms delay, refused 1 ms later) from 22, and opens again at 1499.
      // It closes at 1600: the bye, then the close frame and its answer (1602).
      expectObservable(client.status$.pipe(filter((s) => s.state === 'open' || s.state === 'closed'), map((s) => s.session ?? s.state))).toBe('3ms a 1495ms b 102ms (c|)', {
        a: { state: 'new' },
        b: { state: 'new', why: 'expired' },
        c: 'closed',
      });
      scheduler.schedule(() => {
        w.session.next('s1');
        w.session.next('s2');
        client.next('c1');
      }, 10);
      scheduler.schedule(() => {
        b.down = true;
        b.last().cut();
      }, 12);
      scheduler.schedule(() => {
        expect(w.sessions[0]!.state).toBe('connecting');
        expect(w.serverErrors).toEqual([]);
      }, 1012); // (before the ttl's own action at 1012: it was scheduled later)
      scheduler.schedule(() => {
        expect(w.sessions[0]!.state).toBe('closed');
        expect(w.sessions[0]!.closeInfo).toEqual({ code: 1006, reason: '', wasClean: false });
        expect(w.serverErrors).toEqual([new FrameDroppedError('unconfirmed', 2)]);
        expect(b.registry.size).toBe(0);
      }, 1013);
      scheduler.schedule(() => (b.down = false), 1495);
      scheduler.schedule(() => w.session.next('n1'), 1510);
      scheduler.schedule(() => client.close(), 1600);
      scheduler.flush();
      expect(w.sessions).toHaveLength(2);
      // c1 arrived, but its acknowledgement did not: the client cannot know.
      expect(w.taken).toEqual(['c1']);
      expect(w.clientErrors).toEqual([new FrameDroppedError('unconfirmed', 1)]);
      expect(w.got).toEqual(['s1', 's2', 'n1']);
      expect(hello(b.last())).toEqual({ s: w.sessions[0]!.id, r: 2, w: 1 << 20 });
      expect(welcome(b.last())).toEqual({ s: w.sessions[1]!.id, r: 0, w: 1 << 20, resumed: false, why: 'expired' });
    }, { ttl: 1000 });
  });

  it('a session the server does not know (it restarted): new, why unknown; what waited goes on the new session', () => {
    onBench(({ scheduler, b, client, w }) => {
      scheduler.schedule(() => client.next('sent'), 10);
      scheduler.schedule(() => {
        b.last().cut();
        b.restart();
        b.registry.sessions$.subscribe((s) => watchSession(w, s));
        client.next('waited'); // offered while away: never sent on the old session
      }, 12);
      scheduler.schedule(() => client.close(), 100);
      scheduler.flush();
      expect(w.opens).toEqual([{ state: 'new' }, { state: 'new', why: 'unknown' }]);
      expect(w.taken).toEqual(['sent', 'waited']);
      expect(w.clientErrors).toEqual([new FrameDroppedError('unconfirmed', 1)]);
    });
  });

  it('past maxSessions away, the one away longest is evicted: its client is told new, why evicted; the other resumes', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const b = bench(scheduler, { maxSessions: 1, ttl: 10_000 });
      const slow = { reconnect: { initialDelay: 500, jitter: 'none' as const, factor: 1 } };
      const first = b.client({ resume: true, ...slow });
      const w1 = watch(b, first);
      const firstLine = () => b.lines[0]!;
      let second: RxClient<RxSocket> | undefined;
      const opens: ClientStatus['session'][] = [];
      scheduler.schedule(() => {
        second = b.client({ resume: true, ...slow });
        second.status$.subscribe((s) => s.state === 'open' && opens.push(s.session));
      }, 5);
      scheduler.schedule(() => firstLine().cut(), 10);
      scheduler.schedule(() => {
        expect(w1.sessions[0]!.state).toBe('connecting'); // one away: kept
        b.lines[1]!.cut();
      }, 20);
      scheduler.schedule(() => {
        expect(w1.sessions[0]!.closeInfo).toEqual({ code: 1008, reason: 'Session evicted', wasClean: false });
        expect(w1.sessions[1]!.state).toBe('connecting');
      }, 21);
      scheduler.schedule(() => (first.close(), second!.close()), 1000);
      scheduler.flush();
      expect(w1.opens).toEqual([{ state: 'new' }, { state: 'new', why: 'evicted' }]);
      expect(opens).toEqual([{ state: 'new' }, { state: 'resumed' }]);
    });
  });

  it('the client’s stats count each data frame once, as the session’s do: no hello, welcome, acknowledgement or frame sent again', () => {
    onBench(({ scheduler, b, client, w, sendBoth }) => {
      const once = { received: 3, sent: 3, refused: 0, dropped: 0, discarded: 0 };
      sendBoth(1, 3, 10);
      scheduler.schedule(() => b.last().cut(), 11); // before anything arrives: both sides send all three again
      scheduler.schedule(() => {
        expect(b.lines).toHaveLength(2);
        expect(client.stats).toEqual(once);
      }, 60);
      scheduler.schedule(() => client.close(), 100);
      scheduler.flush();
      expect(data(b.lines[1]!.clientText)).toEqual(numbered('c', 1, 3));
      expect(w.got).toEqual(numbered('s', 1, 3));
      expect(client.stats).toEqual(once);
      expect(w.session.stats).toEqual(once);
    });
  });

  it('the client’s bufferedAmount counts what its session holds until the server acknowledges it, once, also between connections', () => {
    onBench(({ scheduler, b, client }) => {
      scheduler.schedule(() => {
        client.next('c1');
        client.next('c22');
        expect(client.bufferedAmount).toBe(5); // on the wire (ws's buffer) and kept by the session: once
      }, 10);
      scheduler.schedule(() => b.last().cut(), 11); // before they arrive
      scheduler.schedule(() => {
        expect(client.state).toBe('connecting');
        expect(client.bufferedAmount).toBe(5); // to be sent again
      }, 15);
      scheduler.schedule(() => expect(client.bufferedAmount).toBe(0), 60); // sent again, and acknowledged
      scheduler.schedule(() => client.close(), 100);
      scheduler.flush();
    });
  });

  it.each(['closes', 'terminates', 'closes before its welcome', 'closes while away', 'is told by the server that the session ended'] as const)(
    'a client that %s leaves nothing scheduled (acknowledgement, welcome and retry timers)',
    (how) => {
      const scheduler = newScheduler();
      scheduler.run(() => {
        const b = bench(scheduler);
        // The client's time source, knowing which of its actions have neither run nor been cancelled.
        const live = new Set<Subscription>();
        const clock: SchedulerLike = {
          now: () => scheduler.now(),
          schedule: (work, delay, state) => {
            const action: Subscription = scheduler.schedule(function (this: SchedulerAction<unknown>, s) {
              live.delete(action);
              work.call(this, s as never);
            }, delay, state);
            live.add(action);
            action.add(() => live.delete(action));
            return action;
          },
        };
        const client = b.client({ resume: true, scheduler: clock });
        const w = watch(b, client);
        let pending = -1;
        client.close$.subscribe(() => (pending = live.size));
        if (how === 'closes before its welcome') scheduler.schedule(() => client.close(), 1);
        scheduler.schedule(() => {
          w.session.next('s1'); // arrives at 11: an acknowledgement is due at 31
          client.next('c1');
        }, 10);
        scheduler.schedule(() => {
          expect(live.size).toBe(how === 'closes before its welcome' ? 0 : 1);
          if (how === 'closes') client.close();
          if (how === 'terminates') client.terminate();
          if (how === 'closes while away') b.last().cut(); // a retry is due at 22
          if (how === 'is told by the server that the session ended') w.session.close();
        }, 12);
        if (how === 'closes while away') scheduler.schedule(() => client.close(), 15);
        scheduler.flush();
        expect(client.state).toBe('closed');
        expect(pending).toBe(0);
      });
    },
  );

  it('the server ends the session (1001, retried) while the client’s frames cross its bye: the session takes them, the close is clean, none is reported unconfirmed', () => {
    onBench(({ scheduler, client, w }) => {
      scheduler.schedule(() => {
        w.session.close(1001, 'Going away');
        for (const f of numbered('c', 1, 3)) client.next(f); // on the wire before the bye arrives (at 11)
      }, 10);
      scheduler.schedule(() => client.close(), 100);
      scheduler.flush();
      expect(w.sessions).toHaveLength(2);
      expect(w.sessions[0]!.closeInfo).toEqual({ code: 1001, reason: 'Going away', wasClean: true });
      expect(w.opens).toEqual([{ state: 'new' }, { state: 'new' }]);
      expect(w.taken).toEqual(numbered('c', 1, 3));
      expect([...w.clientErrors, ...w.serverErrors]).toEqual([]);
    });
  });

  it.each(['client', 'server'] as const)('the %s closes: the other side confirms what it took, no frame is reported unconfirmed', (closer) => {
    onBench(({ scheduler, b, client, w, sendBoth }) => {
      scheduler.schedule(() => {
        for (const f of numbered('m', 1, 5)) (closer === 'client' ? client : w.session).next(f);
      }, 10);
      // The peer has every frame (1 ms later) but has not acknowledged them yet (ACK_DELAY is 20 ms).
      scheduler.schedule(() => (closer === 'client' ? client.close() : w.session.close()), 12);
      scheduler.flush();
      expect(closer === 'client' ? w.taken : w.got).toEqual(numbered('m', 1, 5));
      expect(w.closes.map((c) => c.code)).toEqual([1000, 1000]);
      expect(w.clientErrors).toEqual([]);
      expect(w.serverErrors).toEqual([]);
    });
  });

  it('the client closes before its welcome came: the close waits for it, then what was queued goes, the bye and the close; the session ends at once', () => {
    onBench(({ scheduler, client, w }) => {
      // Open at 1, the hello on the wire: the session begins at 2 and its welcome arrives at 3.
      scheduler.schedule(() => {
        client.next('c1');
        client.close();
        expect(client.state).toBe('closing');
      }, 1);
      scheduler.schedule(() => expect(w.closes.map((c) => c.code)).toEqual([1000, 1000]), 10);
      scheduler.flush();
      expect(w.taken).toEqual(['c1']);
      expect(w.sessions).toHaveLength(1);
      expect(w.opens).toEqual([{ state: 'new' }]);
      expect([...w.clientErrors, ...w.serverErrors]).toEqual([]);
    }, { ttl: 5000 });
  });

  it('the client: a cut while TCP pushes back: the frame its connection queued goes on the next one, once, and is not reported', () => {
    onBench(({ scheduler, b, client, w }) => {
      scheduler.schedule(() => {
        // The TCP socket is full: the next frame waits in the connection's own queue, and writable$ turns false.
        b.last().client._socket.writableNeedDrain = true;
        client.next('c1');
        client.next('c2');
        expect(b.last().client.sent).toHaveLength(1); // the hello
        expect(client.socket!.bufferedAmount).toBeGreaterThan(0);
      }, 10);
      scheduler.schedule(() => b.last().cut(), 12);
      scheduler.schedule(() => client.close(), 100);
      scheduler.flush();
      expect(w.taken).toEqual(['c1', 'c2']);
      expect([...w.clientErrors, ...w.serverErrors]).toEqual([]);
      expect(client.stats).toMatchObject({ dropped: 0 });
    });
  });

  describe('a connection that ws has switched to CLOSING (the TCP connection ended, its close event is still to come)', () => {
    it.each(['an acknowledgement', 'a frame'] as const)('the session does not write %s to it: no SocketClosedError, and what it did not send goes on the next connection', (what) => {
      const scheduler = newScheduler();
      scheduler.run(() => {
        const b = bench(scheduler);
        const client = b.client({ resume: true });
        const w = watch(b, client);
        // Enough frames that the server acknowledges them as it reads them (ACK_EVERY), at 10, once ws is closing.
        const frames = numbered('c', 1, ACK_EVERY);
        if (what === 'an acknowledgement') scheduler.schedule(() => frames.forEach((f) => client.next(f)), 9);
        scheduler.schedule(() => {
          b.last().server.readyState = WebSocket.CLOSING;
          if (what === 'a frame') w.session.next('s1');
        }, 10);
        scheduler.schedule(() => b.last().cut(), 12);
        scheduler.schedule(() => client.close(), 100);
        scheduler.flush();
        expect(b.lines).toHaveLength(2);
        expect(w.taken).toEqual(what === 'a frame' ? [] : frames);
        expect(w.got).toEqual(what === 'a frame' ? ['s1'] : []);
        expect(w.serverErrors).toEqual([]);
        expect(w.clientErrors).toEqual([]);
      });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Protocol errors: 1002, and a ResumeProtocolError where there is someone to tell

describe('the server: a connection that breaks the session protocol is closed with 1002', () => {
  /** A registry as the server has it, what it begins and reports, and resume connections handed to it as the server does (`accept()`). */
  function server(scheduler: SchedulerLike, config: Partial<RegistryConfig> = {}) {
    const registry = new SessionRegistry<undefined>(registryConfig(scheduler, config));
    const sessions: RxSession[] = [];
    const errors: RxjsWsError[] = [];
    registry.sessions$.subscribe((s) => (sessions.push(s), s.errors$.subscribe((e) => errors.push(e))));
    const accept = (ws = new AcceptedWs(RESUME_PROTOCOL)) => {
      registry.accept(new RxSocket(ws as unknown as WebSocket, { heartbeat: false }));
      return ws;
    };
    return { sessions, errors, accept };
  }

  it.each(BAD_HELLOS.map((h) => [JSON.stringify(String(h)).slice(0, 60), h] as const))('a bad hello (%s): 1002, no session', (_, bad) => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { sessions, accept } = server(scheduler);
      const ws = accept();
      ws.receive(bad as string | Buffer);
      expect(ws.closeSent?.code).toBe(1002);
      expect(ws.closeSent?.reason).toMatch(/^Resumable session: (expected the session hello first|the session hello is not JSON|malformed session hello)$/);
      expect(ws.sent).toEqual([]);
      expect(sessions).toEqual([]);
    });
  });

  it('no hello within the handshake timeout: 1002 "No session hello", at the timeout', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const { accept } = server(scheduler, { helloTimeout: 500 });
      const ws = new AcceptedWs(RESUME_PROTOCOL);
      const wire$ = new Subject<WireEvent>();
      ws.onWire = (event) => wire$.next(event);
      expectObservable(wire$).toBe('500ms a', { a: { close: 1002, reason: 'No session hello' } });
      accept(ws);
    });
  });

  it('an acknowledgement of frames never sent: ResumeProtocolError on errors$, 1002; the session waits for the client', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { sessions, errors, accept } = server(scheduler);
      const ws = accept();
      ws.receive(handshakeFrame('H', { s: null, r: 0, w: 1000 }));
      const session = sessions[0]!;
      expect(parseHandshake('W', ws.sent[0]!.data)).toEqual({ s: session.id, r: 0, w: 1 << 20, resumed: false });
      session.next('s1');
      ws.receive(ACK(2));
      expect(errors).toHaveLength(1);
      expect(isProtocolError(errors[0])).toBe(true);
      expect(ws.closeSent).toEqual({ code: 1002, reason: errors[0]!.message.slice(0, 120) });
      ws.receiveClose(1002);
      expect(session.state).toBe('connecting');
    });
  });

  it('a hello that claims frames the session never sent: ResumeProtocolError, 1002; a true one then resumes it', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { sessions, errors, accept } = server(scheduler);
      const first = accept();
      first.receive(handshakeFrame('H', { s: null, r: 0, w: 1000 }));
      const session = sessions[0]!;
      session.next('s1');
      session.next('s2');
      first.drop();
      const liar = accept();
      liar.receive(handshakeFrame('H', { s: session.id, r: 3, w: 1000 }));
      expect(errors.map(isProtocolError)).toEqual([true]);
      expect(liar.closeSent?.code).toBe(1002);
      liar.receiveClose(1002);
      const honest = accept();
      honest.receive(handshakeFrame('H', { s: session.id, r: 1, w: 1000 }));
      expect(honest.sent.map((f) => f.data)).toEqual([handshakeFrame('W', { s: session.id, r: 0, w: 1 << 20, resumed: true }), 's2']);
      expect(honest.closeSent).toBeNull();
      expect(sessions).toHaveLength(1);
      expect(errors).toHaveLength(1);
    });
  });
});

describe('the client: a server that breaks the session protocol is told with 1002, and errors$ has the ResumeProtocolError', () => {
  /** A client whose connections open at once, negotiated as resume, and then do what `script` says. */
  function scripted(scheduler: SchedulerLike, script: (ws: DialedWs) => void, timeout = 10_000) {
    const made: DialedWs[] = [];
    class Scripted extends DialedWs {
      constructor(url: string, protocols: string[], options: unknown) {
        super(url, protocols, options);
        made.push(this);
        scheduler.schedule(() => {
          this.protocol = RESUME_PROTOCOL;
          this.open();
          script(this);
        }, 1);
      }
    }
    const client = connect('ws://scripted.test/ws', {
      WebSocket: Scripted as unknown as WebSocketFactory,
      heartbeat: false,
      resume: { timeout, maxBytes: 1000 },
      reconnect: false,
      scheduler,
    });
    const errors: RxjsWsError[] = [];
    client.errors$.subscribe((e) => errors.push(e));
    return { client, made, errors };
  }

  const welcomeFrame = (more: Partial<Welcome> = {}) => handshakeFrame('W', { s: 'sess', r: 0, w: 1000, resumed: false, ...more });

  it.each([
    ['not a welcome', (ws: DialedWs) => ws.receive('hi')],
    ['a welcome that is not JSON', (ws: DialedWs) => ws.receive('\u0000W{')],
    ['a welcome with a bad reason', (ws: DialedWs) => ws.receive(welcomeFrame({ why: 'bored' as never }))],
    ['a welcome that claims frames never sent', (ws: DialedWs) => ws.receive(welcomeFrame({ r: 1 }))],
    ['a welcome that is not JSON, and frames behind it (reported once)', (ws: DialedWs) => ['\u0000W{', 's1', 's2'].forEach((f) => ws.receive(f))],
    ['a welcome that resumes a session the client did not present', (ws: DialedWs) => ws.receive(welcomeFrame({ resumed: true }))],
    ['an acknowledgement of frames never sent', (ws: DialedWs) => (ws.receive(welcomeFrame()), ws.receive(ACK(1)))],
    ['acknowledgements of frames never sent, one behind the other (reported once)', (ws: DialedWs) => [welcomeFrame(), ACK(1), ACK(2)].forEach((f) => ws.receive(f))],
    ['an unknown control message', (ws: DialedWs) => (ws.receive(welcomeFrame()), ws.receive('\u0000Q'))],
  ])('%s', (_, script) => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { client, made, errors } = scripted(scheduler, script);
      scheduler.flush();
      const ws = made[0]!;
      expect(parseHandshake('H', ws.sent[0]!.data)).toEqual({ s: null, r: 0, w: 1000 });
      expect(errors.map(isProtocolError)).toEqual([true]);
      expect(ws.closeSent).toEqual({ code: 1002, reason: errors[0]!.message.slice(0, 120) });
      client.terminate();
    });
  });

  it('no welcome within resume.timeout: 1002 at the timeout', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const wire$ = new Subject<WireEvent>();
      const { client, errors } = scripted(scheduler, (ws) => (ws.onWire = (event) => wire$.next(event)), 300);
      // Opens at 1; the hello went out then, before the wire was watched.
      expectObservable(wire$).toBe('301ms a b', { a: { close: 1002, reason: 'Resumable session: no session welcome' }, b: { terminate: true } });
      scheduler.schedule(() => {
        expect(errors.map(isProtocolError)).toEqual([true]);
        client.terminate();
      }, 302);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Negotiation on real sockets

describe('with and without resume on either side (real sockets)', () => {
  const opened = (client: RxClient<RxSocket>) => firstValueFrom(client.status$.pipe(filter((s) => s.state === 'open')));
  const echo = async (client: RxClient<RxSocket>, frames: string[]) => {
    const got = firstValueFrom(client.messages$.pipe(take(frames.length), toArray()));
    for (const frame of frames) client.next(frame);
    return got;
  };
  // A text frame that starts with U+0000 looks like a control message: it must travel as the app's frame either way.
  const FRAMES = ['a', '\u0000A1', '\u0000', 'b'];

  it.each([[[]], [['chat']]])('a plain client (protocols %j) on a resume server: a plain connection on connections$', async (protocols) => {
    const { server, url } = await listen({ resume: true });
    const sessions: RxSession[] = [];
    server.sessions$.subscribe((s) => sessions.push(s));
    server.connections$.subscribe((socket) => socket.messages$.subscribe(socket));
    const client = connect(url(), { protocols });
    try {
      expect(await opened(client)).toEqual({ state: 'open', attempt: 0 });
      expect(client.socket!.ws.protocol).toBe(protocols[0] ?? '');
      expect(await echo(client, FRAMES)).toEqual(FRAMES);
      expect(sessions).toEqual([]);
    } finally {
      client.terminate();
    }
  });

  it.each([[[]], [['chat']]])('a resume client (protocols %j) on a server without resume: session unsupported, a plain connection', async (protocols) => {
    const { server, url } = await listen({});
    const wire: string[] = [];
    server.connections$.subscribe((socket) => socket.messages$.subscribe((m) => (wire.push(String(m)), socket.next(m))));
    const client = connect(url(), { protocols, resume: true, reconnect: { maxAttempts: 0 } });
    const errors: RxjsWsError[] = [];
    client.errors$.subscribe((e) => errors.push(e));
    try {
      expect(await opened(client)).toEqual({ state: 'open', attempt: 0, session: { state: 'unsupported' } });
      expect(client.socket!.ws.protocol).toBe(protocols[0] ?? 'rxjs-ws.plain');
      expect(await echo(client, FRAMES)).toEqual(FRAMES);
      // Nothing of the session protocol on the wire: no hello, no escaping, no acknowledgements.
      expect(wire).toEqual(FRAMES);
      expect(errors).toEqual([]);
    } finally {
      client.terminate();
    }
  });

  it('the server: a cut while TCP pushes back: the frame the connection queued is not reported dropped (the session sends it again)', async () => {
    const { server, url } = await listen({ resume: { maxBytes: 64 << 20 } });
    const sessions: RxSession[] = [];
    const errors: RxjsWsError[] = [];
    server.sessions$.subscribe((s) => (sessions.push(s), s.errors$.subscribe((e) => errors.push(e))));
    const ws = new WebSocket(url(), [RESUME_PROTOCOL]);
    released.clients.add(ws); // terminated after the test if it fails half-way
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(handshakeFrame('H', { s: null, r: 0, w: 1 << 20 }));
    await until(() => sessions.length === 1, 'the session');
    const session = sessions[0]!;
    const big = 'x'.repeat(1 << 20);
    // The first megabyte is more than the TCP socket takes at once: the second waits in the connection's queue.
    session.next(big);
    session.next(big);
    expect(session.socket!.bufferedAmount).toBeGreaterThan(0);
    ws.terminate();
    await until(() => session.state === 'connecting', 'the server to see the drop');
    expect(errors).toEqual([]);
    expect(session.stats).toMatchObject({ sent: 2, dropped: 0 });
    expect(session.bufferedAmount).toBe(2 * big.length);
    session.terminate();
  });

  it('a resume client on a plain ws server (which selects the first subprotocol offered): session unsupported', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => wss.once('listening', resolve));
    wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
    const client = connect(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { resume: true, reconnect: { maxAttempts: 0 } });
    try {
      expect(await opened(client)).toEqual({ state: 'open', attempt: 0, session: { state: 'unsupported' } });
      expect(await echo(client, FRAMES)).toEqual(FRAMES);
    } finally {
      client.terminate();
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});

