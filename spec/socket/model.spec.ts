/**
 * Model-based property test of RxSocket over the FakeWebSocket.
 *
 * fast-check draws socket options and a sequence of commands (the peer sends,
 * pings, closes or vanishes; TCP stalls and drains; subscribers come and go,
 * some of them calling back into the socket from inside `next`, as do
 * subscribers of `writable$`, `close$` and `errors$`; we send, close,
 * terminate; virtual time passes). A harness runs them against a real
 * RxSocket and keeps a small reference model beside it:
 *
 * - inbound: every frame the socket reads is recorded (the fake's emits are
 *   observed), and every delivery to every subscriber; from that trace it
 *   checks order, exactly-once, hand-over of held frames, what a subscriber
 *   that joins or leaves half-way must get, the hold bound and pausing, that
 *   frames read before `terminate()` or a violation (rate limit, ping flood,
 *   pongs owed) are delivered, those the rate limit held included, and that
 *   every frame read after it is discarded and counted;
 * - outbound: the model predicts exactly what reaches the wire, what the
 *   queue holds, what `errors$` reports (and in which state of the socket)
 *   and what `send()` throws;
 * - lifecycle: `state`, `writable$`, `close$`, stats, the order of the end
 *   (the rate limit's frames, the unsent frames' report, `close$`,
 *   `messages$`, `writable$`), and the teardown (listeners, drain listener,
 *   heartbeat timers, scheduled actions).
 *
 * Checks that need a settled state run after each top-level command; checks on
 * single events run as they happen and are reported at the next settled point.
 */
import fc from 'fast-check';
import { Subscriber, take, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { WebSocket } from 'ws';
import {
  BackpressureError,
  Defaults,
  FrameDroppedError,
  InvalidFrameError,
  RxSocket,
  SocketClosedError,
  type CloseInfo,
  type Inbound,
  type OutboundPolicy,
  type RxSocketOptions,
} from '../../src';
import { HeartbeatMonitor } from '../../src/socket/heartbeat';
import { FakeWebSocket } from '../../src/testing/fake-ws';
import { listenerCounts } from '../support/fake';

const OPEN = WebSocket.OPEN;
const HOLD_BYTES = Defaults.inboundHoldBytes;
/** Two of these fill the 1 MiB hold. */
const BIG = HOLD_BYTES / 2 + 1;
const NUM_RUNS = Number(process.env.MODEL_RUNS ?? 1000);

/** How often each interesting situation came up (MODEL_STATS=1 prints it: a check on the generators, not on the socket). */
const seen = new Map<string, number>();
function note(what: string): void {
  seen.set(what, (seen.get(what) ?? 0) + 1);
}

// ---------------------------------------------------------------- scenario

type Kind = 'text' | 'binary';
type InSize = 'tiny' | 'small' | 'big';
interface PeerFrame {
  readonly kind: Kind;
  readonly size: InSize;
}
interface OutFrame {
  readonly kind: Kind | 'invalid';
  /** Payload bytes (at least the frame's id). */
  readonly size: number;
}

type Act =
  | { readonly a: 'subscribe'; readonly child: SubKind }
  | { readonly a: 'unsubscribeOther'; readonly which: 'oldest' | 'newest' }
  | { readonly a: 'unsubscribeSelf' }
  | { readonly a: 'next'; readonly frame: OutFrame }
  | { readonly a: 'send'; readonly frame: OutFrame }
  | { readonly a: 'close'; readonly code: number }
  | { readonly a: 'terminate' }
  | { readonly a: 'peer'; readonly frame: PeerFrame }
  | { readonly a: 'drain' }
  | { readonly a: 'stall' }
  | { readonly a: 'arrived' }
  | { readonly a: 'watchWritable' }
  | { readonly a: 'peerClose' }
  | { readonly a: 'pingFlood' };

type SubKind =
  /** `then`: what it does from inside its complete callback. */
  | { readonly s: 'plain'; readonly then?: 'resubscribe' | 'next' }
  | { readonly s: 'take'; readonly k: number }
  /** Does `act` from inside `next` on its `on`-th frame (and, when `every`, on the next two as well). */
  | { readonly s: 'reentrant'; readonly on: number; readonly every?: boolean; readonly act: Act };

type Cmd =
  | { readonly c: 'peer'; readonly frame: PeerFrame }
  | { readonly c: 'arrived'; readonly n: number }
  | { readonly c: 'subscribe'; readonly kind: SubKind }
  | { readonly c: 'unsubscribe'; readonly pick: number }
  | { readonly c: 'next'; readonly frame: OutFrame }
  | { readonly c: 'send'; readonly frame: OutFrame }
  | { readonly c: 'close'; readonly via: 'close' | 'complete' | 'error'; readonly code: number }
  | { readonly c: 'terminate' }
  | { readonly c: 'peerClose'; readonly code: number; readonly reason: string }
  | { readonly c: 'peerDrop' }
  | { readonly c: 'stall' }
  | { readonly c: 'drain' }
  /** The kernel took the bytes (writableNeedDrain false) but 'drain' has not been emitted yet. */
  | { readonly c: 'unstall' }
  | { readonly c: 'watchWritable'; readonly kind: WatchKind }
  /** A close$ subscriber that subscribes to messages$ or sends from its callback. */
  | { readonly c: 'watchClose'; readonly act: 'subscribe' | 'next' }
  /** An errors$ subscriber that sends (next or send) from inside every report (but its own). */
  | { readonly c: 'watchErrors'; readonly act: 'next' | 'send' }
  /** The peer has not read our pongs for a long time (TCP stalled, ws owes it all but two of the pongs the socket tolerates), and pings again (read at once, paused or not). */
  | { readonly c: 'owePongs'; readonly pings: number }
  /** The client's handshake completes (options.connecting). */
  | { readonly c: 'open' }
  /** `read`: ws has read them already (in the chunk it was parsing when paused): they arrive even while paused, after what waited. */
  | { readonly c: 'ping'; readonly count: number; readonly read?: boolean }
  | { readonly c: 'pong' }
  | { readonly c: 'advance'; readonly ms: number };

/**
 * A writable$ subscriber: 'writeOnTrue' writes into a full TCP buffer when told it may (twice at most);
 * 'closeOnFalse' / 'terminateOnFalse' end the socket the first time it is told it may not.
 */
type WatchKind = 'plain' | 'writeOnTrue' | 'closeOnFalse' | 'terminateOnFalse';

type Final = 'drop' | 'handshake' | 'terminate' | 'peerClose';

interface RateOpts {
  readonly messages: number | undefined;
  readonly bytes: number | undefined;
  readonly policy: 'close' | 'pause';
}
interface Opts {
  readonly inboundHold: number;
  readonly policy: OutboundPolicy;
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly pauseReading: boolean;
  readonly batchWrites: boolean;
  readonly rate: RateOpts | null;
  readonly heartbeat: { readonly interval: number; readonly timeout: number } | null;
  /** Frames the TCP socket takes after a drain before it needs to drain again (null: any number). */
  readonly tcpWindow: number | null;
  /** A client socket wrapped before its handshake completed. */
  readonly connecting: boolean;
}
interface Scenario {
  readonly options: Opts;
  readonly commands: readonly Cmd[];
  readonly final: Final;
}

// ---------------------------------------------------------------- arbitraries

/** One of the arbitraries, by weight; a counterexample shrinks towards the first (the simplest). */
function weighted<T>(...pairs: [number, fc.Arbitrary<T>][]): fc.Arbitrary<T> {
  return fc.oneof({ withCrossShrink: true }, ...pairs.map(([weight, arbitrary]) => ({ weight, arbitrary })));
}

const peerFrameArb: fc.Arbitrary<PeerFrame> = fc.record({
  kind: fc.constantFrom<Kind>('text', 'binary'),
  size: weighted<InSize>([8, fc.constant('tiny')], [3, fc.constant('small')], [1, fc.constant('big')]),
});
const outFrameArb: fc.Arbitrary<OutFrame> = fc.record({
  kind: weighted<Kind | 'invalid'>([6, fc.constant('text')], [3, fc.constant('binary')], [1, fc.constant('invalid')]),
  size: fc.constantFrom(0, 3, 6, 12, 40, 100),
});
const closeCodeArb = fc.constantFrom(1000, 1001, 4000);

/** Acts of a subscriber made from inside another's next (no deeper nesting). */
const leafActArb: fc.Arbitrary<Act> = fc.oneof(
  fc.constant<Act>({ a: 'unsubscribeSelf' }),
  outFrameArb.map((frame): Act => ({ a: 'next', frame })),
  closeCodeArb.map((code): Act => ({ a: 'close', code })),
  fc.constant<Act>({ a: 'terminate' }),
  peerFrameArb.map((frame): Act => ({ a: 'peer', frame })),
  fc.constant<Act>({ a: 'drain' }),
);
const childArb: fc.Arbitrary<SubKind> = fc.oneof(
  fc.constant<SubKind>({ s: 'plain' }),
  fc.constant<SubKind>({ s: 'take', k: 1 }),
  leafActArb.map((act): SubKind => ({ s: 'reentrant', on: 1, act })),
);
const actArb: fc.Arbitrary<Act> = fc.oneof(
  childArb.map((child): Act => ({ a: 'subscribe', child })),
  fc.constantFrom<'oldest' | 'newest'>('oldest', 'newest').map((which): Act => ({ a: 'unsubscribeOther', which })),
  fc.constant<Act>({ a: 'unsubscribeSelf' }),
  outFrameArb.map((frame): Act => ({ a: 'next', frame })),
  outFrameArb.map((frame): Act => ({ a: 'send', frame })),
  closeCodeArb.map((code): Act => ({ a: 'close', code })),
  fc.constant<Act>({ a: 'terminate' }),
  peerFrameArb.map((frame): Act => ({ a: 'peer', frame })),
  fc.constant<Act>({ a: 'drain' }),
  fc.constant<Act>({ a: 'stall' }),
  fc.constant<Act>({ a: 'arrived' }),
  fc.constant<Act>({ a: 'watchWritable' }),
  fc.constant<Act>({ a: 'peerClose' }),
  fc.constant<Act>({ a: 'pingFlood' }),
);

const subKindArb: fc.Arbitrary<SubKind> = weighted<SubKind>(
  [2, fc.constant({ s: 'plain' })],
  [1, fc.constantFrom<'resubscribe' | 'next'>('resubscribe', 'next').map((then): SubKind => ({ s: 'plain', then }))],
  [2, fc.integer({ min: 1, max: 3 }).map((k): SubKind => ({ s: 'take', k }))],
  [4, fc.record({ s: fc.constant('reentrant' as const), on: fc.integer({ min: 1, max: 3 }), act: actArb })],
  [1, fc.record({ s: fc.constant('reentrant' as const), on: fc.integer({ min: 1, max: 2 }), every: fc.constant(true), act: actArb })],
);

const cmdArb: fc.Arbitrary<Cmd> = weighted<Cmd>(
  [30, peerFrameArb.map((frame): Cmd => ({ c: 'peer', frame }))],
  // Mostly a few; sometimes all that waits (a ping flood read before a pause, say).
  [8, weighted<number>([3, fc.integer({ min: 1, max: 3 })], [1, fc.constant(1000)]).map((n): Cmd => ({ c: 'arrived', n }))],
  [20, subKindArb.map((kind): Cmd => ({ c: 'subscribe', kind }))],
  [10, fc.nat(3).map((pick): Cmd => ({ c: 'unsubscribe', pick }))],
  [20, outFrameArb.map((frame): Cmd => ({ c: 'next', frame }))],
  [6, outFrameArb.map((frame): Cmd => ({ c: 'send', frame }))],
  [12, fc.constant<Cmd>({ c: 'stall' })],
  [10, fc.constant<Cmd>({ c: 'drain' })],
  [3, fc.constant<Cmd>({ c: 'unstall' })],
  [4, weighted<WatchKind>([2, fc.constant('plain')], [2, fc.constant('writeOnTrue')], [1, fc.constant('closeOnFalse')], [1, fc.constant('terminateOnFalse')]).map((kind): Cmd => ({ c: 'watchWritable', kind }))],
  [2, fc.constantFrom<'subscribe' | 'next'>('subscribe', 'next').map((act): Cmd => ({ c: 'watchClose', act }))],
  [3, fc.constantFrom<'next' | 'send'>('next', 'send').map((act): Cmd => ({ c: 'watchErrors', act }))],
  [2, fc.integer({ min: 1, max: 3 }).map((pings): Cmd => ({ c: 'owePongs', pings }))],
  [6, fc.constant<Cmd>({ c: 'open' })],
  [
    5,
    weighted<Cmd>(
      [8, fc.constant<Cmd>({ c: 'ping', count: 1 })],
      [1, fc.constant<Cmd>({ c: 'ping', count: Defaults.controlFramesPerSecond + 1 })],
      [1, fc.constant<Cmd>({ c: 'ping', count: Defaults.controlFramesPerSecond + 1, read: true })],
    ),
  ],
  [2, fc.constant<Cmd>({ c: 'pong' })],
  [8, fc.constantFrom(1, 10, 100, 250, 500, 1000, 10_000, 30_000).map((ms): Cmd => ({ c: 'advance', ms }))],
  // The socket's end comes rarely, so that most runs have time to get somewhere first.
  [2, fc.oneof(closeCodeArb.map((code): Cmd => ({ c: 'close', via: 'close', code })), fc.constant<Cmd>({ c: 'close', via: 'complete', code: 1000 }), fc.constant<Cmd>({ c: 'close', via: 'error', code: 1011 }))],
  [1, fc.constant<Cmd>({ c: 'terminate' })],
  [1, fc.record({ c: fc.constant('peerClose' as const), code: fc.constantFrom(1000, 1001, 1005, 4001), reason: fc.constantFrom('', 'bye') })],
  [1, fc.constant<Cmd>({ c: 'peerDrop' })],
);

const rateArb: fc.Arbitrary<RateOpts> = fc
  .record({
    messages: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    bytes: fc.option(fc.constantFrom(16, 64, 256), { nil: undefined }),
    policy: fc.constantFrom<'close' | 'pause'>('close', 'pause'),
  })
  .map((r) => (r.messages === undefined && r.bytes === undefined ? { ...r, messages: 2 } : r));

const optionsArb: fc.Arbitrary<Opts> = fc.record({
  inboundHold: fc.integer({ min: 1, max: 5 }),
  policy: fc.constantFrom<OutboundPolicy>('error', 'drop-oldest', 'drop-newest', 'close'),
  maxMessages: fc.integer({ min: 1, max: 4 }),
  maxBytes: fc.constantFrom(4, 8, 16, 64),
  pauseReading: fc.boolean(),
  batchWrites: fc.boolean(),
  rate: weighted<RateOpts | null>([2, fc.constant(null)], [1, rateArb]),
  heartbeat: weighted<Opts['heartbeat']>(
    [2, fc.constant(null)],
    [1, fc.record({ interval: fc.constantFrom(1000, 3000), timeout: fc.constantFrom(500, 2000) })],
  ),
  tcpWindow: weighted<number | null>([1, fc.constant(null)], [1, fc.integer({ min: 1, max: 3 })]),
  connecting: weighted<boolean>([3, fc.constant(false)], [1, fc.constant(true)]),
});

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  options: optionsArb,
  commands: fc.array(cmdArb, { maxLength: 60, size: 'max' }),
  final: fc.constantFrom<Final>('drop', 'handshake', 'terminate', 'peerClose'),
});

// ---------------------------------------------------------------- rendering

function showPeer(f: PeerFrame): string {
  return `${f.kind} ${f.size}`;
}
function showOut(f: OutFrame): string {
  return f.kind === 'invalid' ? 'invalid' : `${f.kind} ${f.size}B`;
}
function showAct(a: Act): string {
  switch (a.a) {
    case 'next':
    case 'send':
      return `${a.a}(${showOut(a.frame)})`;
    case 'close':
      return `close(${a.code})`;
    case 'unsubscribeOther':
      return `unsubscribe the ${a.which} other subscriber`;
    case 'subscribe':
      return `subscribe ${showKind(a.child)}`;
    case 'peer':
      return `peer sends ${showPeer(a.frame)}`;
    default:
      return a.a;
  }
}
function showKind(k: SubKind): string {
  if (k.s === 'plain') return k.then === undefined ? 'plain' : `plain, on complete: ${k.then}`;
  if (k.s === 'take') return `take(${k.k})`;
  return `${k.every ? 'from' : 'on'} frame ${k.on}: ${showAct(k.act)}`;
}
function show(c: Cmd): string {
  switch (c.c) {
    case 'peer':
      return `peer sends ${showPeer(c.frame)}`;
    case 'arrived':
      return `fake.arrived(${c.n})`;
    case 'subscribe':
      return `subscribe ${showKind(c.kind)}`;
    case 'unsubscribe':
      return `unsubscribe active subscriber [${c.pick}]`;
    case 'next':
    case 'send':
      return `socket.${c.c}(${showOut(c.frame)})`;
    case 'close':
      return c.via === 'close' ? `socket.close(${c.code})` : `socket.${c.via}()`;
    case 'terminate':
      return 'socket.terminate()';
    case 'peerClose':
      return `peer close frame ${c.code} "${c.reason}"`;
    case 'peerDrop':
      return 'peer drops the connection';
    case 'stall':
      return 'TCP stalls (writableNeedDrain)';
    case 'drain':
      return 'TCP drains';
    case 'unstall':
      return "TCP buffer empties ('drain' not emitted yet)";
    case 'watchWritable':
      return `subscribe writable$ (${c.kind})`;
    case 'watchClose':
      return `subscribe close$ (${c.act} from its callback)`;
    case 'watchErrors':
      return `subscribe errors$ (${c.act} from inside each report)`;
    case 'owePongs':
      return `TCP stalls with ${Defaults.pongBacklog - 2} pongs owed to the peer, which pings x${c.pings} (read at once)`;
    case 'open':
      return 'handshake completes (open)';
    case 'ping':
      return `peer pings x${c.count}${c.read ? ' (read at once, paused or not)' : ''}`;
    case 'pong':
      return 'peer pongs';
    case 'advance':
      return `advance ${c.ms} ms`;
  }
}
function showOpts(o: Opts): string {
  const parts = [`inboundHold ${o.inboundHold}`, `outbound ${o.policy} max ${o.maxMessages} msgs/${o.maxBytes} B`];
  if (o.pauseReading) parts.push('pauseReading');
  if (!o.batchWrites) parts.push('no batchWrites');
  if (o.rate) parts.push(`rateLimit ${o.rate.policy} ${o.rate.messages ?? '-'} msg/s ${o.rate.bytes ?? '-'} B/s`);
  if (o.heartbeat) parts.push(`heartbeat ${o.heartbeat.interval}/${o.heartbeat.timeout} ms`);
  if (o.tcpWindow !== null) parts.push(`TCP stalls after ${o.tcpWindow} frame(s)`);
  if (o.connecting) parts.push('starts connecting');
  return parts.join(', ');
}
function showInfo(info: CloseInfo | null): string {
  if (info === null) return 'closing';
  return `${info.code} "${info.reason}" ${info.wasClean ? 'clean' : 'unclean'}${info.error ? ` ${info.error.name}` : ''}`;
}
function normError(e: unknown): string {
  if (e instanceof FrameDroppedError) return `FrameDropped(${e.why} x${e.count})`;
  if (e instanceof BackpressureError) return `Backpressure(${e.queued.messages} msgs, ${e.queued.bytes} B)`;
  if (e instanceof SocketClosedError) return `SocketClosed(${showInfo(e.close)})`;
  if (e instanceof InvalidFrameError) return 'InvalidFrame';
  return `unexpected ${String(e)}`;
}
function normSent(data: string | Buffer, binary: boolean): string {
  return binary ? `B:${(data as Buffer).toString('latin1')}` : `T:${data as string}`;
}
function firstDiff(actual: readonly string[], expected: readonly string[]): string | null {
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (actual[i] !== expected[i]) return `at #${i}: got ${actual[i] ?? '(nothing)'}, expected ${expected[i] ?? '(nothing)'} (got ${actual.length}, expected ${expected.length})`;
  }
  return null;
}

// ---------------------------------------------------------------- exact token bucket

type Decision = 'none' | 'ok' | 'over' | 'boundary' | 'maybe';

/**
 * The rate limit's arithmetic in exact integers (thousandths of a message or
 * byte; virtual time in whole ms), to judge the socket's float bucket. Exactly
 * on the threshold (below the cap) the float may fall either way: 'boundary'.
 */
class ExactBucket {
  #msgs: number;
  #bytes: number;
  #at: number;

  constructor(
    readonly messages: number,
    readonly bytes: number,
    now: number,
  ) {
    this.#msgs = messages * 1000;
    this.#bytes = bytes * 1000;
    this.#at = now;
  }

  take(size: number, now: number): Decision {
    const dt = now - this.#at;
    this.#at = now;
    const { messages, bytes } = this;
    if (messages !== Infinity) this.#msgs = Math.min(messages * 1000, this.#msgs + dt * messages);
    if (bytes !== Infinity) this.#bytes = Math.min(bytes * 1000, this.#bytes + dt * bytes);
    const cost = Math.min(size, bytes) * 1000;
    const mOk = messages === Infinity || this.#msgs >= 1000;
    const bOk = bytes === Infinity || this.#bytes >= cost;
    if (!mOk || !bOk) return 'over';
    const edge = (messages !== Infinity && this.#msgs === 1000 && this.#msgs < messages * 1000) || (bytes !== Infinity && this.#bytes === cost && cost > 0 && this.#bytes < bytes * 1000);
    if (messages !== Infinity) this.#msgs -= 1000;
    if (bytes !== Infinity) this.#bytes -= cost;
    return edge ? 'boundary' : 'ok';
  }
}

// ---------------------------------------------------------------- harness

/** A FakeWebSocket whose emits the harness observes (before and after the socket's listeners run). */
class ObservedFake extends FakeWebSocket {
  harness: Harness | null = null;
  /** Frames the TCP socket still takes before it reports backpressure (null: no limit). */
  tcpLeft: number | null = null;
  /** The close frame written by close() (rxws's), as opposed to the fake answering the peer's close frame. */
  ownClose: { code: number; reason: string } | null = null;
  /** ws's count of its answers to the peer's pings not written yet (autoPong): they wait while TCP is stalled. */
  _pendingAutoPongs = 0;
  override close(code?: number, reason?: string): void {
    const before = this.closeSent;
    super.close(code, reason);
    if (before === null && this.closeSent !== null) this.ownClose ??= { ...this.closeSent };
  }
  override send(data: unknown, options?: { binary?: boolean }): void {
    const before = this.sent.length;
    super.send(data, options);
    if (this.sent.length > before && this.tcpLeft !== null && --this.tcpLeft <= 0) this._socket.writableNeedDrain = true;
  }
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    // ws counts the pong it owes before it tells of the ping.
    if (event === 'ping' && this.readyState === OPEN && this._socket.writableNeedDrain) this._pendingAutoPongs++;
    const h = this.harness;
    if (h === null) return super.emit(event, ...args);
    const token = h.beforeEmit(event, args);
    try {
      return super.emit(event, ...args);
    } finally {
      h.afterEmit(token);
    }
  }
}

/** A frame the socket read. `k` is its place in arrival order. */
interface Rx {
  readonly k: number;
  readonly id: number;
  readonly value: Inbound;
  readonly size: number;
  /** Read while the fake was paused (arrived(), drop()): may exceed the hold. */
  readonly paused: boolean;
  status: 'pending' | 'accepted' | 'discarded';
  /** Read after terminate() / a policy violation: must not be delivered. */
  readonly mustDiscard: boolean;
  readonly why: string;
}

interface Sub {
  readonly no: number;
  readonly kind: SubKind;
  /** Index of the first frame it must get (frames delivered before it subscribed). */
  readonly start: number;
  readonly got: number[];
  state: 'active' | 'unsubscribed' | 'taken' | 'completed';
  /** Once ended: start + frames it must have got. */
  expectEnd: number | null;
  fired: number;
  subscriber: Subscriber<Inbound> | null;
}

interface Emit {
  readonly event: string;
  readonly rx: Rx | null;
  readonly discardedBefore: number;
  nested: number;
  readonly decision: Decision;
  readonly ownCloseBefore: boolean;
  readonly closingBefore: boolean;
}

class Harness {
  readonly timersBefore = HeartbeatMonitor.timers;
  readonly fake: ObservedFake;
  readonly socket: RxSocket;
  readonly sched: TestScheduler | null;
  readonly opts: Opts;
  readonly ratePause: boolean;
  readonly violations: string[] = [];
  inAdvance = false;

  // inbound trace
  readonly R: Rx[] = [];
  readonly byId = new Map<number, Rx>();
  readonly peerFrames = new Map<number, Inbound>();
  nextPeerId = 0;
  delivered = 0;
  receiptDiscards = 0;
  readonly subs: Sub[] = [];
  subNo = 0;
  readonly emits: Emit[] = [];
  readonly current: { sub: Sub; k: number }[] = [];
  /** messages$ subscriptions in progress (held frames are handed over inside). */
  subscribing = 0;
  readonly completions: { sub: Sub; delivered: number; received: number }[] = [];

  // outbound model
  queue: { norm: string; size: number }[] = [];
  queueBytes = 0;
  readonly expectedSent: string[] = [];
  readonly expectedErrors: string[] = [];
  readonly errors: string[] = [];
  errorsEnded = false;
  readonly counts = { sent: 0, refused: 0, dropped: 0 };
  nextOutId = 0;

  // lifecycle model
  closing = false;
  closed = false;
  opened: boolean;
  /** close() was called before the handshake: the close frame goes out once open. */
  pendingClose = false;
  discarding = false;
  /** A ping on the budget's edge arrived while closing: the socket may discard from here on without a sign. */
  maybeDiscarding = false;
  /** The 'close' policy fired inside the write in progress (the frames it discards): the socket starts closing, then reports them. */
  overflow: number | null = null;
  /** The socket has settled its close: what the rate limit held is delivered, then the unsent frames reported, then close$ told. */
  settled = false;
  /**
   * Reports whose place in errors$ depends on what subscribers do first (the 'close' policy's, told once the socket
   * is closing; the unsent frames', told after the rate limit's frames): expected when told, or at their deadline.
   */
  readonly pendingReports: { readonly kind: 'close' | 'closed'; readonly text: string; readonly n: number }[] = [];
  terminated: 'user' | 'heartbeat' | null = null;
  closeInfo: CloseInfo | null = null;
  /** The first close rxws started, and whether ws was still open to send its frame. */
  firstClose: { readonly code: number; readonly reason: string; onWire: boolean } | null = null;
  wsClose: { code: number; reason: string } | null = null;
  readonly closeEmissions: CloseInfo[] = [];
  closeCompleted = false;
  readonly writableSeen: boolean[] = [];
  readonly watchers: { no: number; kind: WatchKind; values: boolean[]; done: boolean; writes: number }[] = [];
  writableCompleted = false;
  readonly rateBucket: ExactBucket | null;
  pingBucket: ExactBucket | null = null;
  /** Virtual time of the last sign of life the socket saw (frame, ping, or pong once it listens for them). */
  lastLife = 0;
  pingCount = 0;

  constructor(opts: Opts) {
    this.opts = opts;
    this.fake = new ObservedFake(opts.connecting ? WebSocket.CONNECTING : WebSocket.OPEN);
    this.opened = !opts.connecting;
    this.ratePause = opts.rate?.policy === 'pause';
    const sched = opts.rate !== null || opts.heartbeat !== null ? new TestScheduler(() => undefined) : null;
    this.sched = sched;
    const options: RxSocketOptions = {
      inboundHold: opts.inboundHold,
      outbound: { policy: opts.policy, maxMessages: opts.maxMessages, maxBytes: opts.maxBytes, pauseReading: opts.pauseReading, batchWrites: opts.batchWrites },
      ...(opts.rate && sched ? { rateLimit: { ...(opts.rate.messages ? { messages: opts.rate.messages } : {}), ...(opts.rate.bytes ? { bytes: opts.rate.bytes } : {}), policy: opts.rate.policy, scheduler: sched } } : {}),
      ...(opts.heartbeat && sched ? { heartbeat: { ...opts.heartbeat, scheduler: sched } } : {}),
    };
    this.fake.tcpLeft = opts.tcpWindow;
    this.socket = new RxSocket(this.fake as unknown as WebSocket, options);
    this.lastLife = this.now();
    this.rateBucket = opts.rate?.policy === 'close' ? new ExactBucket(opts.rate.messages ?? Infinity, opts.rate.bytes ?? Infinity, this.now()) : null;
    this.fake.harness = this;
    this.socket.errors$.subscribe({
      next: (e) => this.onError(e),
      error: (e) => this.fail(`errors$ errored: ${String(e)}`),
      complete: () => (this.errorsEnded = true),
    });
    this.socket.close$.subscribe({
      next: (info) => this.onClose(info),
      error: (e) => this.fail(`close$ errored: ${String(e)}`),
      complete: () => (this.closeCompleted = true),
    });
    this.socket.writable$.subscribe({
      next: (w) => {
        this.writableSeen.push(w);
        this.toldWritable('writable$', w);
      },
      error: (e) => this.fail(`writable$ errored: ${String(e)}`),
      complete: () => {
        this.writableCompleted = true;
        this.writableEnded('writable$');
      },
    });
  }

  now(): number {
    return this.sched?.now() ?? Date.now();
  }

  fail(message: string): void {
    this.violations.push(message);
  }

  // ------------------------------------------------------------ commands

  exec(cmd: Cmd): void {
    switch (cmd.c) {
      case 'peer':
        return this.peer(cmd.frame);
      case 'arrived':
        return this.fake.arrived(cmd.n);
      case 'subscribe':
        return void this.subscribe(cmd.kind);
      case 'unsubscribe': {
        const active = this.subs.filter((s) => s.state === 'active');
        const sub = active[cmd.pick % Math.max(1, active.length)];
        if (sub !== undefined) this.unsubscribe(sub, null);
        return;
      }
      case 'next':
      case 'send':
        return this.offer(cmd.frame, cmd.c);
      case 'close':
        return this.close(cmd.code, cmd.via);
      case 'terminate':
        return this.terminate();
      case 'peerClose':
        return this.fake.receiveClose(cmd.code, cmd.reason);
      case 'peerDrop':
        return this.fake.drop();
      case 'stall':
        this.fake._socket.writableNeedDrain = true;
        return;
      case 'drain':
        return this.drain();
      case 'unstall':
        this.fake._socket.writableNeedDrain = false;
        this.fake._pendingAutoPongs = 0;
        if (this.fake.tcpLeft !== null) this.fake.tcpLeft = this.opts.tcpWindow;
        return;
      case 'watchWritable':
        return this.watchWritable(cmd.kind);
      case 'watchClose':
        this.socket.close$.subscribe(() => {
          note(`close$ subscriber ${cmd.act}s`);
          if (cmd.act === 'subscribe') this.subscribe({ s: 'plain' });
          else this.offer({ kind: 'text', size: 0 }, 'next');
        });
        return;
      case 'watchErrors':
        return this.watchErrors(cmd.act);
      case 'owePongs':
        this.fake._socket.writableNeedDrain = true;
        this.fake._pendingAutoPongs = Math.max(this.fake._pendingAutoPongs, Defaults.pongBacklog - 2);
        for (let i = 0; i < cmd.pings; i++) this.fake.receivePing();
        this.fake.arrived(this.fake.waiting); // read at once, paused or not
        return;
      case 'open':
        if (this.fake.readyState === WebSocket.CONNECTING) this.fake.open();
        return;
      case 'ping':
        for (let i = 0; i < cmd.count; i++) this.fake.receivePing();
        if (cmd.read) this.fake.arrived(this.fake.waiting);
        return;
      case 'pong':
        return this.fake.receivePong();
      case 'advance':
        return this.advance(cmd.ms);
    }
  }

  peer(frame: PeerFrame): void {
    const id = ++this.nextPeerId;
    const head = `i${id}.`;
    const size = frame.size === 'tiny' ? head.length : frame.size === 'small' ? 24 : BIG;
    const text = head + '-'.repeat(Math.max(0, size - head.length));
    const value: Inbound = frame.kind === 'text' ? text : Buffer.from(text, 'latin1');
    this.peerFrames.set(id, value);
    this.fake.receive(value);
  }

  advance(ms: number): void {
    const sched = this.sched;
    if (sched === null) return;
    const target = sched.frame + ms;
    // Nothing but time changes during an advance (the peer does not act), so what holds at its start holds throughout.
    const hb = this.opts.heartbeat;
    let heartbeatDue = Infinity;
    if (hb !== null && !this.ratePause && this.opened && !this.closed) {
      // A silent peer is given up `interval + timeout` after its last sign of life (within a tick for each step);
      // one whose frames nobody takes (hold full) is excused for 3 x (interval + timeout) first.
      const tick = Math.max(1, Math.floor(Math.min(hb.interval, hb.timeout) / 10));
      const unread = this.fake.isPaused && this.holdFull();
      heartbeatDue = Math.max(sched.frame, this.lastLife) + (unread ? 4 : 1) * (hb.interval + hb.timeout) + 4 * tick;
    }
    // Frames in the rate limit's hold come out as the budget refills: at most a second each.
    const waitingUpTo = this.acceptedEnd();
    const waiting = waitingUpTo - this.delivered;
    const subscribers = this.subs.filter((s) => s.state === 'active');
    const releaseDue = this.ratePause && !this.discarding && !this.maybeDiscarding && subscribers.length > 0 ? sched.frame + waiting * 1001 : Infinity;
    this.inAdvance = true;
    try {
      sched.maxFrames = target;
      sched.flush();
      sched.frame = target;
    } finally {
      this.inAdvance = false;
    }
    if (target >= heartbeatDue) note('heartbeat deadline checked');
    const stillSubscribed = subscribers.every((s) => s.state === 'active');
    if (target >= releaseDue && stillSubscribed && waiting > 0) note('rate hold release checked');
    if (target >= heartbeatDue && !this.fake.terminated) this.fail(`the heartbeat did not give up on a peer silent since ${this.lastLife} ms (now ${target} ms)`);
    if (target >= releaseDue && stillSubscribed && !this.discarding && !this.maybeDiscarding && this.delivered < waitingUpTo) {
      this.fail(`${waitingUpTo - this.delivered} of ${waiting} frame(s) held by the rate limit still not delivered after ${ms} ms`);
    }
  }

  holdFull(): boolean {
    const held = this.R.slice(this.delivered, this.acceptedEnd());
    return held.length >= this.opts.inboundHold || held.reduce((n, r) => n + r.size, 0) >= HOLD_BYTES;
  }

  subscribe(kind: SubKind): Sub {
    this.sync();
    const sub: Sub = { no: ++this.subNo, kind, start: this.delivered, got: [], state: 'active', expectEnd: null, fired: 0, subscriber: null };
    this.subs.push(sub);
    const subscriber = new Subscriber<Inbound>({
      next: (value: Inbound) => this.onDeliver(sub, value),
      error: (e: unknown) => this.fail(`S${sub.no}: messages$ errored: ${String(e)}`),
      complete: () => this.onComplete(sub),
    });
    sub.subscriber = subscriber;
    const source: Observable<Inbound> = kind.s === 'take' ? this.socket.messages$.pipe(take(kind.k)) : this.socket.messages$;
    this.subscribing++;
    try {
      source.subscribe(subscriber);
    } finally {
      this.subscribing--;
    }
    if (sub.got.length > 0 && this.current.length === 0) note(`held frames handed over on subscribe${sub.state !== 'active' ? ' (ended mid-way)' : ''}`);
    return sub;
  }

  /** `by`: the subscriber inside whose `next` this happens (null at top level). */
  unsubscribe(sub: Sub, by: { sub: Sub; k: number } | null): void {
    if (sub.state !== 'active') return;
    sub.state = 'unsubscribed';
    if (by === null) sub.expectEnd = this.delivered;
    else if (by.sub === sub) sub.expectEnd = by.k + 1;
    // Another subscriber's next: the frame in delivery reached this one first iff it subscribed earlier.
    else sub.expectEnd = Math.max(sub.start, sub.no < by.sub.no ? by.k + 1 : by.k);
    note(by === null ? 'unsubscribe' : by.sub === sub ? 'unsubscribe self in next' : sub.no < by.sub.no ? 'unsubscribe earlier sub in next' : 'unsubscribe later sub in next');
    sub.subscriber?.unsubscribe();
  }

  offer(frame: OutFrame, via: 'next' | 'send'): void {
    this.sync();
    const id = ++this.nextOutId;
    const head = `o${id}.`;
    const text = head + '.'.repeat(Math.max(0, frame.size - head.length));
    const value: unknown = frame.kind === 'invalid' ? 42 : frame.kind === 'text' ? text : Buffer.from(text, 'latin1');
    const norm = frame.kind === 'binary' ? `B:${text}` : `T:${text}`;
    const size = Buffer.byteLength(text);
    const { opts } = this;

    let refusal: string | null = null;
    let overflow = 0;
    if (this.closing || this.closed || this.fake.readyState > OPEN) refusal = `SocketClosed(${this.closedInfoNow()})`;
    else if (frame.kind === 'invalid') refusal = 'InvalidFrame';
    else if (this.opened && this.queue.length === 0 && !this.fake._socket.writableNeedDrain) {
      this.expectedSent.push(norm);
      this.counts.sent++;
    } else {
      const fits = () => this.queue.length === 0 || (this.queue.length < opts.maxMessages && this.queueBytes + size <= opts.maxBytes);
      if (fits()) this.enqueue(norm, size);
      else if (opts.policy === 'error') refusal = `Backpressure(${this.queue.length} msgs, ${this.queueBytes} B)`;
      else if (opts.policy === 'drop-newest') this.dropped('drop-newest', 1);
      else if (opts.policy === 'drop-oldest') {
        let n = 0;
        while (!fits()) {
          const old = this.queue.shift()!;
          this.queueBytes -= old.size;
          n++;
        }
        this.dropped('drop-oldest', n);
        this.enqueue(norm, size);
      } else {
        overflow = this.queue.length + 1;
        this.queue = [];
        this.queueBytes = 0;
      }
    }
    if (refusal !== null) {
      note(`refused ${refusal.replace(/\(.*/, '')}`);
      this.counts.refused++;
      if (via === 'next') this.expectedErrors.push(refusal);
    }

    if (overflow > 0) this.overflow = overflow;
    if (via === 'next') {
      try {
        this.socket.next(value as string);
      } catch (e) {
        this.fail(`next() threw ${String(e)}`);
      }
    } else {
      let thrown: string | null = null;
      try {
        this.socket.send(value as string);
      } catch (e) {
        thrown = normError(e);
      }
      if (thrown !== refusal) this.fail(`send(${showOut(frame)}) ${thrown === null ? 'did not throw' : `threw ${thrown}`}, expected ${refusal === null ? 'no throw' : refusal}`);
    }
    // The 'close' policy closes, then reports what it discarded; both within the write.
    if (overflow > 0) {
      this.sync();
      if (this.overflow !== null) this.fail("the 'close' policy fired, but the socket did not close");
      this.overflow = null;
      this.flushReports('close');
    }
  }

  enqueue(norm: string, size: number): void {
    this.queue.push({ norm, size });
    this.queueBytes += size;
    this.counts.sent++;
  }

  dropped(why: string, n: number): void {
    note(`FrameDropped ${why}`);
    this.expectedErrors.push(`FrameDropped(${why} x${n})`);
    this.counts.dropped += n;
  }

  /** A report the socket owes, whose place in errors$ is where it is told (see `pendingReports`). */
  expectLater(kind: 'close' | 'closed', n: number): void {
    note(`FrameDropped ${kind}`);
    this.pendingReports.push({ kind, text: `FrameDropped(${kind} x${n})`, n });
  }

  /** Past its deadline, a report not told yet is expected here (errors$ then shows it missing). */
  flushReports(kind: 'close' | 'closed'): void {
    for (let i = 0; i < this.pendingReports.length; ) {
      const r = this.pendingReports[i]!;
      if (r.kind !== kind) i++;
      else {
        this.pendingReports.splice(i, 1);
        this.expectedErrors.push(r.text);
        this.counts.dropped += r.n;
      }
    }
  }

  close(code: number, via: 'close' | 'complete' | 'error'): void {
    this.sync();
    this.closeModel(code, '', this.fake.readyState === OPEN);
    if (via === 'close') this.socket.close(code);
    else if (via === 'complete') this.socket.complete();
    else this.socket.error(new Error('application failure'));
  }

  /** What close() does: queued frames go out first (while ws is open), then the close frame. */
  closeModel(code: number, reason: string, flush: boolean): void {
    if (this.closing || this.closed) return;
    this.closing = true;
    if (flush) {
      for (const q of this.queue) this.expectedSent.push(q.norm);
      this.queue = [];
      this.queueBytes = 0;
    }
    this.firstClose = { code, reason, onWire: this.fake.readyState === OPEN };
    if (!this.opened && this.fake.readyState === WebSocket.CONNECTING) this.pendingClose = true;
  }

  terminate(): void {
    this.sync();
    // Frames taken before (in the rate limit's hold, too) are still delivered; what is read from here on is discarded.
    // Once the socket has closed (ws's 'close' is being told), it changes nothing.
    if (this.socket.closeInfo === null) {
      if (!this.discarding && this.ratePause && this.acceptedEnd() > this.delivered) note('terminate with frames taken, not delivered');
      this.closing = true;
      this.discarding = true;
      this.terminated ??= 'user';
    }
    this.socket.terminate();
  }

  drain(): void {
    this.sync();
    const window = this.opts.tcpWindow;
    if (this.fake.tcpLeft !== null) this.fake.tcpLeft = window;
    this.fake._pendingAutoPongs = 0;
    // Queued frames go out on 'drain' in order, while the TCP socket takes them.
    if (this.opened && this.fake.readyState === OPEN && !this.closed && this.queue.length > 0) {
      const n = window === null ? this.queue.length : Math.min(window, this.queue.length);
      for (const q of this.queue.splice(0, n)) {
        this.expectedSent.push(q.norm);
        this.queueBytes -= q.size;
      }
    }
    this.fake._socket.drain();
  }

  watchWritable(kind: WatchKind): void {
    const w = { no: this.watchers.length + 1, kind, values: [] as boolean[], done: false, writes: 0 };
    // One that subscribes once the socket has closed (inside its end) is told the end at once: false, and complete.
    const late = this.socket.closeInfo !== null;
    this.watchers.push(w);
    this.socket.writable$.subscribe({
      next: (v) => {
        w.values.push(v);
        if (!late) this.toldWritable(`writable$ subscriber W${w.no}`, v);
        else if (v) this.fail(`writable$ subscriber W${w.no}, subscribed after the close, told true`);
        // It starts from the truth, even where ws moved on without a word (inside drop(), say).
        if (w.values.length === 1 && v !== this.writableNow()) this.fail(`writable$ subscriber W${w.no} started from ${String(v)}, expected ${String(this.writableNow())}`);
        if (kind === 'writeOnTrue' && v && w.writes < 2) {
          w.writes++;
          note('writable$ subscriber writes on true');
          this.fake._socket.writableNeedDrain = true;
          this.offer({ kind: 'text', size: 0 }, 'next');
        } else if (!v && w.writes === 0 && (kind === 'closeOnFalse' || kind === 'terminateOnFalse') && w.values.length > 1) {
          w.writes++;
          note(`writable$ subscriber ${kind}${this.closing ? ' (closing)' : ''}`);
          if (kind === 'closeOnFalse') this.close(4000, 'close');
          else this.terminate();
        }
      },
      error: (e) => this.fail(`writable$ (W${w.no}) errored: ${String(e)}`),
      complete: () => {
        w.done = true;
        if (!late) this.writableEnded(`writable$ subscriber W${w.no}`);
      },
    });
    if (this.current.length > 0) note('writable$ subscribed inside a delivery');
    if (w.values.length === 0) this.fail(`writable$ subscriber W${w.no} got no value on subscribing`);
  }

  /** At the end, writable$ says false after close$ is told; never anything while the 'close' policy has left the socket half-way. */
  toldWritable(who: string, value: boolean): void {
    this.settledTell(`${who} ${String(value)}`);
    if (this.socket.closeInfo !== null && !this.closed) this.fail(`${who} told ${String(value)} after the close, before close$ was told`);
  }

  /** writable$ completes last: after close$, and after messages$ has completed for everyone (but inside a delivery, which ends first). */
  writableEnded(who: string): void {
    if (!this.closed) this.fail(`${who} completed before close$ was told`);
    const active = this.subs.filter((s) => s.state === 'active');
    if (active.length > 0 && !this.midDelivery()) this.fail(`${who} completed before messages$ completed for ${active.map((s) => `S${s.no}`).join(', ')}`);
  }

  /**
   * Whether messages$ may be in the middle of handing a frame over (a subscriber's next, a hand-over on subscribe,
   * a frame being read): what happens inside waits for it, so a close there completes messages$ after it.
   */
  midDelivery(): boolean {
    return this.current.length > 0 || this.subscribing > 0 || this.emits.some((e) => e.event === 'message');
  }

  /** State is settled before anyone is told: nobody hears of anything between the 'close' policy firing and the socket closing. */
  settledTell(what: string): void {
    if (this.overflow !== null && (this.socket.state === 'open' || this.socket.state === 'connecting')) {
      this.fail(`${what} told while the 'close' policy had discarded the queue, but the socket was still ${this.socket.state}`);
    }
  }

  /** What errors$ reports is told once the socket has settled: the queue, its state and its counters. */
  onError(e: unknown): void {
    const text = normError(e);
    this.errors.push(text);
    this.settledTell(text);
    this.sync();
    const at = this.pendingReports.findIndex((r) => r.text === text);
    if (at >= 0) {
      const [r] = this.pendingReports.splice(at, 1);
      this.expectedErrors.push(r!.text);
      this.counts.dropped += r!.n;
    }
    if (e instanceof FrameDroppedError && e.why === 'close') {
      const ours = this.fake.ownClose;
      if (this.socket.state !== 'closing' && this.socket.state !== 'closed') this.fail(`${text} told while the socket was ${this.socket.state}`);
      else if (this.opened && (ours === null || ours.code !== 1013 || ours.reason !== 'Outbound queue full')) this.fail(`${text} told before the close frame 1013 (close frame ${JSON.stringify(ours)})`);
    }
    if (this.socket.bufferedAmount !== this.queueBytes) this.fail(`${text} told with ${this.socket.bufferedAmount} B queued, expected ${this.queueBytes}`);
    // A policy's drop is told once the socket has settled the write that caused it: its counters too.
    if (e instanceof FrameDroppedError && e.why !== 'closed') {
      const stats = this.socket.stats;
      for (const key of ['sent', 'refused', 'dropped'] as const) {
        if (stats[key] !== this.counts[key]) this.fail(`${text} told with stats.${key} ${stats[key]}, expected ${this.counts[key]}`);
      }
    }
  }

  /** An errors$ subscriber that sends from inside each report (not from inside its own). */
  watchErrors(act: 'next' | 'send'): void {
    let busy = false;
    this.socket.errors$.subscribe((e) => {
      if (busy) return;
      busy = true;
      try {
        note(`errors$ subscriber ${act}s on ${normError(e).replace(/\(.*/, '')}`);
        this.offer({ kind: 'text', size: 0 }, act);
      } finally {
        busy = false;
      }
    });
  }

  /** A policy violation: nothing is delivered from here on, and the socket closes with 1008. */
  violate(reason: string, flush: boolean): void {
    if (!this.discarding && this.ratePause && this.acceptedEnd() > this.delivered) note(`violation (${reason}) with frames taken, not delivered`);
    this.discarding = true;
    this.closeModel(1008, reason, flush);
  }

  /**
   * The socket may close on its own (a heartbeat timeout, a violation on the
   * float boundary of a budget); learn it before the next operation.
   */
  sync(): void {
    if (this.closed) return;
    if (this.overflow !== null && (this.socket.state === 'closing' || this.socket.state === 'closed')) {
      this.expectLater('close', this.overflow);
      this.overflow = null;
      this.closeModel(1013, 'Outbound queue full', true);
    }
    if (this.fake.terminated && this.terminated === null) {
      if (this.opts.heartbeat === null || !this.inAdvance) this.fail('the socket terminated itself (no heartbeat running)');
      // (ws does not send pings once closing, yet the heartbeat waits for an answer: fine.)
      else if (this.fake.pings.length === 0 && !this.closing) this.fail('heartbeat timeout without a ping sent');
      const quiet = this.now() - this.lastLife;
      const hb = this.opts.heartbeat;
      // A ping goes out after `interval` of quiet; the peer is given up `timeout` after it: never sooner.
      if (hb !== null && quiet < hb.interval + hb.timeout) this.fail(`heartbeat timeout after ${quiet} ms of quiet (interval ${hb.interval} + timeout ${hb.timeout})`);
      this.terminated = 'heartbeat';
      note('heartbeat timeout');
      this.closing = true;
      this.discarding = true;
    }
    // Closing of its own accord shows as its close frame, as 'closing' while ws is still open, or as the queue
    // flushed unbidden (the close frame may not follow: the peer's, waiting while the socket did not read, came first).
    const ours = this.fake.ownClose;
    const flushed = this.fake.sent.length > this.expectedSent.length;
    if (!this.closing && (ours !== null || flushed || (this.socket.state === 'closing' && this.fake.readyState === OPEN))) {
      // Only a violation on the float edge of a budget, in the middle of being read, may do that unforeseen.
      const edge = this.emits.find((e) => (e.event === 'message' && e.decision === 'boundary') || (e.event === 'ping' && (e.decision === 'boundary' || e.decision === 'maybe')));
      const reason = edge === undefined ? null : edge.event === 'message' ? 'Rate limit exceeded' : 'Too many pings';
      if (reason === null || (ours !== null && (ours.code !== 1008 || ours.reason !== reason))) {
        this.fail(`the socket began closing by itself (state ${this.socket.state}, close frame ${JSON.stringify(ours)})`);
      }
      this.violate(reason ?? ours?.reason ?? '?', true);
    }
    // Settled: the close is known; what was never sent is reported (after the rate limit's frames, before close$).
    if (!this.settled && this.wsClose !== null && this.socket.closeInfo !== null) {
      this.settled = true;
      this.closing = true;
      if (this.queue.length > 0) this.expectLater('closed', this.queue.length);
      this.queue = [];
      this.queueBytes = 0;
    }
  }

  // ------------------------------------------------------------ what the socket does

  beforeEmit(event: string | symbol, args: unknown[]): Emit | null {
    if (event === 'message' || event === 'ping' || (event === 'pong' && this.fake.listenerCount('pong') > 0)) {
      this.sync();
      this.lastLife = this.now();
    }
    if (event === 'message') {
      const data = args[0] as Buffer;
      const id = Number(/^i(\d+)\./.exec(data.toString('latin1', 0, 16))?.[1] ?? NaN);
      const value = this.peerFrames.get(id);
      if (value === undefined) this.fail(`the socket read a frame the peer never sent (${data.toString('latin1', 0, 16)})`);
      let decision: Decision = 'none';
      let why = this.discarding ? (this.terminated ? 'terminate() was called' : 'a policy was violated') : '';
      const mustBeDiscarded = this.discarding;
      if (!this.discarding && this.rateBucket !== null) {
        decision = this.rateBucket.take(data.length, this.now());
        if (decision === 'over') {
          why = 'it is over the rate budget';
          this.violate('Rate limit exceeded', this.fake.readyState === OPEN);
        }
      }
      if (this.current.length > 0) note('frame read inside a delivery');
      if (this.fake.isPaused) note('frame read while paused');
      if (decision === 'boundary') note('rate budget on the float boundary');
      if (decision === 'over') note('rate limit close');
      const rx: Rx = { k: this.R.length, id, value: value ?? '', size: data.length, paused: this.fake.isPaused, status: 'pending', mustDiscard: mustBeDiscarded || decision === 'over', why };
      this.R.push(rx);
      this.byId.set(id, rx);
      return this.pushEmit('message', rx, decision);
    }
    if (event === 'ping') {
      this.sync();
      let decision: Decision = 'none';
      const closingBefore = this.closing;
      if (!this.discarding) {
        this.pingCount++;
        if (this.sched !== null) {
          this.pingBucket ??= new ExactBucket(Defaults.controlFramesPerSecond, Infinity, this.now());
          decision = this.pingBucket.take(0, this.now());
        } else decision = this.pingCount <= Defaults.controlFramesPerSecond ? 'ok' : 'maybe'; // real time may have refilled
        // Within the budget or not, a peer owed this many pongs is closed.
        if (this.fake._pendingAutoPongs >= Defaults.pongBacklog) {
          note('too many pongs owed');
          decision = 'over';
        }
        if (decision === 'over') this.violate('Too many pings', this.fake.readyState === OPEN);
      }
      return this.pushEmit('ping', null, decision, closingBefore);
    }
    if (event === 'open') {
      this.sync();
      this.onOpen();
      return null;
    }
    if (event === 'close') {
      this.sync();
      const [code, reason] = args as [number, Buffer];
      if (this.wsClose !== null) this.fail(`ws emitted 'close' twice (${this.wsClose.code}, then ${code})`);
      this.wsClose ??= { code, reason: reason.toString() };
      return this.pushEmit('close', null, 'none');
    }
    return null;
  }

  /** The handshake completed: frames queued meanwhile go out (while TCP takes them), then a close requested meanwhile. */
  onOpen(): void {
    if (this.closed) return this.fail('the ws opened after the socket closed');
    this.opened = true;
    this.lastLife = this.now();
    note(`opened with ${this.queue.length} frame(s) queued${this.pendingClose ? ' and a close pending' : ''}`);
    const left = this.fake._socket.writableNeedDrain ? 0 : (this.fake.tcpLeft ?? Infinity);
    const n = this.pendingClose ? this.queue.length : Math.min(left, this.queue.length);
    for (const q of this.queue.splice(0, n)) {
      this.expectedSent.push(q.norm);
      this.queueBytes -= q.size;
    }
    if (this.pendingClose && this.firstClose !== null) {
      this.pendingClose = false;
      this.firstClose.onWire = true;
    }
  }

  pushEmit(event: string, rx: Rx | null, decision: Decision, closingBefore = this.closing): Emit {
    const e: Emit = { event, rx, discardedBefore: this.socket.stats.discarded, nested: 0, decision, ownCloseBefore: this.fake.ownClose !== null, closingBefore };
    this.emits.push(e);
    return e;
  }

  afterEmit(e: Emit | null): void {
    if (e === null) return;
    this.emits.pop();
    const total = this.socket.stats.discarded - e.discardedBefore;
    const parent = this.emits[this.emits.length - 1];
    if (parent !== undefined) parent.nested += total;
    if (e.event === 'message') {
      const rx = e.rx!;
      const own = total - e.nested;
      if (own === 1) {
        rx.status = 'discarded';
        this.receiptDiscards++;
        const enclosing = this.emits.some((x) => x.decision === 'over' || x.decision === 'boundary' || x.decision === 'maybe');
        if (!rx.mustDiscard && e.decision !== 'boundary' && !enclosing && !this.maybeDiscarding) this.fail(`frame #${rx.k} was discarded, though nothing called for it`);
        if (this.maybeDiscarding) this.discarding = true;
        if (e.decision === 'boundary' && !this.discarding) this.violate('Rate limit exceeded', true);
      } else if (own === 0) {
        rx.status = 'accepted';
        if (rx.mustDiscard) this.fail(`frame #${rx.k} was taken, though ${rx.why}`);
      } else this.fail(`reading frame #${rx.k} counted ${own} discards`);
    } else if (e.event === 'ping') {
      const cs = this.fake.ownClose;
      const pingClose = cs !== null && cs.code === 1008 && cs.reason === 'Too many pings';
      if (pingClose && !e.ownCloseBefore) note('too many pings');
      // (Unless the peer's close frame, waiting while the socket did not read, came in as it flushed before its own.)
      const peerFirst = cs === null && this.wsClose !== null;
      if (e.decision === 'over' && !e.closingBefore && !e.ownCloseBefore && !pingClose && !peerFirst) this.fail(`ping #${this.pingCount} is over the budget, but the socket did not close with 1008`);
      if (e.decision === 'ok' && !e.ownCloseBefore && pingClose) this.fail(`ping #${this.pingCount} is within the budget, but the socket closed for too many pings`);
      if ((e.decision === 'boundary' || e.decision === 'maybe') && pingClose && !this.discarding) this.violate('Too many pings', true);
      if ((e.decision === 'boundary' || e.decision === 'maybe') && e.closingBefore) this.maybeDiscarding = true;
    }
  }

  onDeliver(sub: Sub, value: Inbound): void {
    const label = `S${sub.no} (${showKind(sub.kind)})`;
    const head = typeof value === 'string' ? value.slice(0, 16) : Buffer.isBuffer(value) ? value.toString('latin1', 0, 16) : String(value);
    const id = Number(/^i(\d+)\./.exec(head)?.[1] ?? NaN);
    const rx = this.byId.get(id);
    if (rx === undefined) return this.fail(`${label} got a frame the socket never read: ${head}`);
    const expected = rx.value;
    const same = typeof expected === 'string' ? value === expected : Buffer.isBuffer(value) && value.equals(expected);
    if (!same) this.fail(`${label} got frame #${rx.k} altered (${typeof value} instead of ${typeof expected === 'string' ? 'string' : 'Buffer'}, or other bytes)`);
    if (sub.state !== 'active') this.fail(`${label} got frame #${rx.k} after it ${sub.state === 'unsubscribed' ? 'unsubscribed' : 'completed'}`);
    this.settledTell(`${label} frame #${rx.k}`);
    if (rx.mustDiscard) this.fail(`${label} got frame #${rx.k}, though ${rx.why}`);
    if (rx.status === 'discarded') this.fail(`${label} got frame #${rx.k}, which the socket counted as discarded`);
    if (rx.k === this.delivered) this.delivered++;
    else if (rx.k > this.delivered) this.fail(`frame #${rx.k} was delivered (to ${label}) before frame #${this.delivered}`);
    const want = sub.start + sub.got.length;
    if (rx.k !== want) this.fail(`${label} got frame #${rx.k}, expected #${want}${rx.k < want ? ' (again or out of order)' : ' (one was skipped)'}`);
    sub.got.push(rx.k);
    if (sub.kind.s === 'reentrant' && sub.got.length >= sub.kind.on && sub.fired < (sub.kind.every ? 3 : 1)) {
      sub.fired++;
      note(`reentrant ${sub.kind.act.a}${this.closing ? ' (closing)' : ''}`);
      this.current.push({ sub, k: rx.k });
      try {
        this.perform(sub, sub.kind.act, rx.k);
      } catch (e) {
        this.fail(`${label}: ${showAct(sub.kind.act)} from inside next threw ${String(e)}`);
      } finally {
        this.current.pop();
      }
    }
  }

  perform(sub: Sub, act: Act, k: number): void {
    switch (act.a) {
      case 'subscribe':
        return void this.subscribe(act.child);
      case 'unsubscribeOther': {
        const others = this.subs.filter((s) => s.state === 'active' && s !== sub);
        const other = act.which === 'oldest' ? others[0] : others[others.length - 1];
        if (other !== undefined) this.unsubscribe(other, { sub, k });
        return;
      }
      case 'unsubscribeSelf':
        return this.unsubscribe(sub, { sub, k });
      case 'next':
      case 'send':
        return this.offer(act.frame, act.a);
      case 'close':
        return this.close(act.code, 'close');
      case 'terminate':
        return this.terminate();
      case 'peer':
        return this.peer(act.frame);
      case 'drain':
        return this.drain();
      case 'stall':
        this.fake._socket.writableNeedDrain = true;
        return;
      case 'arrived':
        return this.fake.arrived(1);
      case 'watchWritable':
        return this.watchWritable('plain');
      case 'peerClose':
        return this.fake.receiveClose(1000);
      case 'pingFlood':
        for (let i = 0; i <= Defaults.controlFramesPerSecond; i++) this.fake.receivePing();
        return;
    }
  }

  onComplete(sub: Sub): void {
    const label = `S${sub.no} (${showKind(sub.kind)})`;
    if (sub.state !== 'active') return this.fail(`${label} completed after it ${sub.state}`);
    if (sub.kind.s === 'take' && sub.got.length === sub.kind.k) {
      sub.state = 'taken';
      note('take(k) completed');
      sub.expectEnd = sub.start + sub.kind.k;
      return;
    }
    sub.state = 'completed';
    note('messages$ completed');
    sub.expectEnd = this.delivered;
    if (this.socket.closeInfo === null) this.fail(`messages$ completed (for ${label}) before the socket closed`);
    else if (!this.closed) this.fail(`messages$ completed (for ${label}) before close$ was told`);
    this.completions.push({ sub, delivered: this.delivered, received: this.R.length });
    if (sub.kind.s === 'plain' && sub.kind.then !== undefined) {
      note(`messages$ complete callback: ${sub.kind.then}`);
      if (sub.kind.then === 'resubscribe') this.subscribe({ s: 'plain' });
      else this.offer({ kind: 'text', size: 0 }, 'next');
    }
  }

  onClose(info: CloseInfo): void {
    this.sync();
    this.closeEmissions.push(info);
    if (this.closed) return this.fail('close$ emitted twice');
    this.closed = true;
    this.closing = true;
    this.closeInfo = info;
    if (!this.settled) this.fail('close$ emitted before the socket settled its close');
    if (this.pendingReports.some((r) => r.kind === 'closed')) this.fail('close$ told before the unsent frames were reported');
    this.flushReports('closed');
    // Frames the rate limit held are delivered before close$ (unless the socket closed inside a delivery: they follow it).
    const waiting = this.acceptedEnd() - this.delivered;
    const listening = this.subs.filter((s) => s.state === 'active');
    if (waiting > 0 && listening.length > 0 && !this.midDelivery()) {
      this.fail(`close$ told with ${waiting} frame(s) not delivered to ${listening.map((s) => `S${s.no}`).join(', ')}`);
    }
    if (this.wsClose === null) return this.fail('close$ emitted before ws closed');
    if (this.terminated === 'user' && this.wsClose.code !== 1006) note('terminate(): ws parsed the close frame after it');
    const expected = this.expectedInfo();
    if (showInfo(info) !== expected) this.fail(`close$ emitted ${showInfo(info)}, expected ${expected}`);
  }

  /** What close$ must say, once ws has closed. */
  expectedInfo(): string {
    const ws = this.wsClose!;
    if (this.terminated === 'heartbeat') return '1006 "Heartbeat timeout" unclean HeartbeatTimeoutError';
    // No closing handshake finished after a terminate(), whatever ws parsed after it (the peer's close frame, in the same read).
    if (this.terminated === 'user') return '1006 "" unclean';
    return `${ws.code} "${ws.reason}" ${ws.code === 1006 ? 'unclean' : 'clean'}`;
  }

  /**
   * The close info a SocketClosedError carries now: none while closing, the final one once
   * the socket has settled its close (it delivers what the rate limit held back first).
   */
  closedInfoNow(): string {
    const actual = this.socket.closeInfo;
    if (this.wsClose === null) {
      if (actual !== null) this.fail(`closeInfo ${showInfo(actual)} before ws closed`);
      return 'closing';
    }
    if (actual === null) return 'closing';
    if (showInfo(actual) !== this.expectedInfo()) this.fail(`closeInfo ${showInfo(actual)}, expected ${this.expectedInfo()}`);
    return this.expectedInfo();
  }

  // ------------------------------------------------------------ checks

  writableNow(): boolean {
    return !this.closing && !this.closed && this.queue.length === 0 && this.fake.readyState === OPEN;
  }

  stateNow(): string {
    return this.closed ? 'closed' : this.closing ? 'closing' : this.opened ? 'open' : 'connecting';
  }

  /** Frames read and not discarded when read, in order; the rest of R is discarded. */
  acceptedEnd(): number {
    let n = 0;
    while (n < this.R.length && this.R[n]!.status !== 'discarded') n++;
    return n;
  }

  check(where: string): void {
    this.sync();
    const { fake, socket, opts } = this;
    const stats = socket.stats;

    // Inbound: discards are a suffix of what was read; deliveries a prefix of the rest.
    const accepted = this.acceptedEnd();
    for (let i = accepted; i < this.R.length; i++) {
      const rx = this.R[i]!;
      if (rx.status === 'pending') this.fail(`frame #${i} still pending at a settled point`);
      else if (rx.status === 'accepted') this.fail(`frame #${i} was taken after frame #${accepted} was discarded`);
    }
    if (this.delivered > accepted) this.fail(`${this.delivered} frames delivered, only ${accepted} taken`);
    // Only frames read after terminate() or a violation are discarded: what was taken before (the rate limit's hold too) is delivered.
    if (this.receiptDiscards > 0) note(this.terminated ? 'frames discarded after terminate' : 'frames discarded after a violation');
    if (stats.discarded !== this.receiptDiscards) this.fail(`stats.discarded ${stats.discarded}, but ${this.receiptDiscards} frame(s) were discarded when read`);

    for (const s of this.subs) {
      const label = `S${s.no} (${showKind(s.kind)})`;
      const end = s.state === 'active' ? this.delivered : s.expectEnd!;
      const got = s.start + s.got.length;
      if (got !== end) {
        const want = `frames #${s.start}..#${end - 1}`;
        this.fail(`${label} ${s.state === 'active' ? 'subscribed' : s.state}: got ${s.got.length ? `#${s.got[0]}..#${s.got[s.got.length - 1]}` : 'nothing'}, expected ${end > s.start ? want : 'nothing'}`);
      }
    }
    const active = this.subs.filter((s) => s.state === 'active');
    // (Only the rate limit's 'pause' holds frames back from a subscriber, and only until the socket discards: then it hands them over.)
    if (active.length > 0 && !(this.ratePause && !this.discarding) && this.delivered !== accepted) {
      this.fail(`${accepted - this.delivered} frame(s) held while ${active.map((s) => `S${s.no}`).join(', ')} subscribe${active.length === 1 ? 's' : ''}`);
    }
    if (this.closed && active.length > 0) this.fail(`messages$ did not complete after the close (${active.map((s) => `S${s.no}`).join(', ')} still subscribed)`);
    for (const c of this.completions.splice(0)) {
      const rs = this.R.slice(0, c.received);
      const taken = rs.filter((r) => r.status !== 'discarded').length;
      if (taken !== c.delivered) this.fail(`messages$ completed (S${c.sub.no}) with ${taken - c.delivered} frame(s) never handed over`);
    }

    // The hold bound and reading (frames the rate limit held join the hold when the socket discards: past the bound, it stops reading).
    if (this.opened && !this.closed && fake.readyState !== WebSocket.CLOSED) {
      const held = this.R.slice(this.delivered, accepted);
      const bytes = (rs: readonly Rx[]) => rs.reduce((n, r) => n + r.size, 0);
      const full = held.length >= opts.inboundHold || bytes(held) >= HOLD_BYTES;
      if (full) note(bytes(held) >= HOLD_BYTES ? 'hold full (bytes)' : 'hold full (frames)');
      if (held.length > opts.inboundHold) note('hold over the bound by frames read while paused');
      if (full && !fake.isPaused) this.fail(`${held.length} frame(s) (${bytes(held)} B) held, but the socket still reads`);
      let lastRead = -1;
      held.forEach((r, i) => {
        if (!r.paused) lastRead = i;
      });
      if (lastRead >= 0) {
        const before = held.slice(0, lastRead);
        if (before.length >= opts.inboundHold || bytes(before) >= HOLD_BYTES) {
          this.fail(`the socket read frame #${held[lastRead]!.k} with ${before.length} frame(s) (${bytes(before)} B) already held (inboundHold ${opts.inboundHold})`);
        }
      }
      const queued = this.queue.length > 0;
      if (opts.pauseReading && queued && !fake.isPaused) this.fail('pauseReading: frames are queued, but the socket still reads');
      if (fake.isPaused && !full && !(opts.pauseReading && queued) && !(this.ratePause && !this.discarding && held.length > 0)) {
        this.fail(`the socket is paused with room in the hold (${held.length} held)${queued ? ', frames queued' : ''}`);
      }
    }

    // Outbound.
    const sent = fake.sent.map((f) => normSent(f.data, f.binary));
    const sentDiff = firstDiff(sent, this.expectedSent);
    if (sentDiff !== null) this.fail(`sent frames differ ${sentDiff}`);
    const errDiff = firstDiff(this.errors, this.expectedErrors);
    if (errDiff !== null) this.fail(`errors$ differs ${errDiff}`);
    if (this.errorsEnded) this.fail('errors$ completed');
    if (socket.bufferedAmount !== this.queueBytes) this.fail(`bufferedAmount ${socket.bufferedAmount}, expected ${this.queueBytes} queued`);
    if (this.queue.length > 1 && this.queueBytes > opts.maxBytes) this.fail(`the model queue broke its bound: ${this.queueBytes} B`);
    const drains = fake._socket.listenerCount('drain');
    const wantDrains = this.queue.length > 0 && this.opened && !this.closed ? 1 : 0;
    if (drains !== wantDrains) this.fail(`${drains} 'drain' listener(s), expected ${wantDrains}`);
    const counted = { received: this.R.length, sent: this.counts.sent, refused: this.counts.refused, dropped: this.counts.dropped };
    for (const key of Object.keys(counted) as (keyof typeof counted)[]) {
      if (stats[key] !== counted[key]) this.fail(`stats.${key} ${stats[key]}, expected ${counted[key]}`);
    }

    // rxws's close frame on the wire (after the frames it flushed: ws drops anything sent later).
    const ours = this.fake.ownClose;
    const first = this.firstClose;
    if (first !== null && first.onWire) {
      // None only when ws was gone first (terminated, or the peer's close arrived while rxws flushed).
      if (ours === null ? !fake.terminated && this.wsClose === null : ours.code !== first.code || ours.reason !== first.reason) {
        this.fail(`close frame ${JSON.stringify(ours)}, expected ${first.code} "${first.reason}"`);
      }
    } else if (first === null && ours !== null) this.fail(`unexpected close frame ${JSON.stringify(ours)}`);

    // Lifecycle.
    if (socket.state !== this.stateNow()) this.fail(`state ${socket.state}, expected ${this.stateNow()}`);
    if (this.closeEmissions.length !== (this.closed ? 1 : 0)) this.fail(`close$ emitted ${this.closeEmissions.length} time(s)`);
    if (this.closed !== this.closeCompleted) this.fail(`close$ ${this.closeCompleted ? 'completed' : 'did not complete'}`);
    const writable = this.writableNow();
    const last = this.writableSeen[this.writableSeen.length - 1];
    if (last !== writable) this.fail(`writable$ last emitted ${String(last)}, expected ${writable}`);
    if (this.closed !== this.writableCompleted) this.fail(`writable$ ${this.writableCompleted ? 'completed' : 'did not complete'} (closed: ${this.closed})`);
    for (const w of this.watchers) {
      const lastW = w.values[w.values.length - 1];
      if (lastW !== writable) this.fail(`writable$ subscriber W${w.no} (${w.kind}) last saw ${String(lastW)}, expected ${writable} (saw ${w.values.join(', ')})`);
      if (w.done !== this.closed) this.fail(`writable$ subscriber W${w.no} ${w.done ? 'completed' : 'did not complete'} (closed: ${this.closed})`);
    }
    const fresh: boolean[] = [];
    socket.writable$.subscribe((w) => fresh.push(w)).unsubscribe();
    if (fresh[0] !== writable) this.fail(`a new writable$ subscriber got ${fresh.length ? String(fresh[0]) : 'nothing'}, expected ${writable}`);

    if (this.violations.length > 0) throw new ModelViolation(where, this.violations.splice(0));
  }

  /** After the final close: teardown, hand-over of the rest, refusal of new frames. */
  checkEnd(): void {
    const { fake, socket } = this;
    if (!this.closed) this.fail(`not closed after the final step (state ${socket.state})`);
    const last = this.subscribe({ s: 'plain' });
    if (last.state !== 'completed') this.fail(`a subscriber after the close ${last.state === 'active' ? 'did not complete' : `ended: ${last.state}`}`);
    const accepted = this.acceptedEnd();
    if (this.delivered !== accepted) this.fail(`${accepted - this.delivered} frame(s) taken but never delivered`);
    this.offer({ kind: 'text', size: 0 }, 'next');
    this.offer({ kind: 'binary', size: 0 }, 'send');
    if (listenerCounts(fake).some((n) => n !== 0)) this.fail(`listeners left on the ws: ${JSON.stringify(listenerCounts(fake))} (message, close, error, open, ping, pong)`);
    if (fake._socket.listenerCount('drain') !== 0) this.fail("'drain' listener left on the TCP socket");
    if (HeartbeatMonitor.timers !== this.timersBefore) this.fail(`${HeartbeatMonitor.timers - this.timersBefore} heartbeat timer(s) left`);
    if (this.sched !== null && this.sched.actions.length > 0) this.fail(`${this.sched.actions.length} action(s) left on the scheduler`);
    const replay: string[] = [];
    let replayDone = false;
    socket.close$.subscribe({ next: (i) => replay.push(showInfo(i)), complete: () => (replayDone = true) });
    if (replay.length !== 1 || replay[0] !== showInfo(this.closeInfo) || !replayDone) this.fail(`close$ replayed ${JSON.stringify(replay)}${replayDone ? '' : ' without completing'}`);
    const lateWritable: boolean[] = [];
    let lateWritableDone = false;
    socket.writable$.subscribe({ next: (w) => lateWritable.push(w), complete: () => (lateWritableDone = true) });
    if (lateWritable.join() !== 'false' || !lateWritableDone) this.fail(`writable$ after the close gave ${JSON.stringify(lateWritable)}${lateWritableDone ? '' : ' without completing'}`);
    this.check('end');
  }

  dispose(): void {
    this.fake.harness = null;
    try {
      if (this.fake.readyState !== WebSocket.CLOSED) this.fake.drop();
    } catch {
      // best effort: the run has failed already
    }
  }
}

class ModelViolation extends Error {
  constructor(
    readonly where: string,
    readonly problems: string[],
  ) {
    super(`${where}:\n  - ${problems.join('\n  - ')}`);
  }
}

function run(scenario: Scenario): void {
  const h = new Harness(scenario.options);
  const trace = (upTo: number) =>
    [`options: ${showOpts(scenario.options)}`, ...scenario.commands.slice(0, upTo + 1).map((c, i) => `  ${i}. ${show(c)}`)].join('\n');
  let at = -1;
  try {
    for (const [i, cmd] of scenario.commands.entries()) {
      at = i;
      try {
        h.exec(cmd);
      } catch (e) {
        h.fail(`${show(cmd)} threw ${e instanceof Error ? e.stack : String(e)}`);
      }
      h.check(`after ${i}. ${show(cmd)}`);
    }
    at = scenario.commands.length;
    switch (scenario.final) {
      case 'drop':
        h.fake.drop();
        break;
      case 'terminate':
        h.terminate();
        break;
      case 'handshake':
        h.close(1000, 'close');
        h.fake.receiveClose(1000);
        // The peer's close frame waits while the socket does not read (hold full): then it vanishes.
        if (!h.closed) h.fake.drop();
        break;
      case 'peerClose':
        h.fake.receiveClose(1001, 'going');
        if (!h.closed) h.fake.drop();
        break;
    }
    h.check(`after the final ${scenario.final}`);
    h.checkEnd();
  } catch (e) {
    if (e instanceof ModelViolation) {
      const where = at < scenario.commands.length ? at : scenario.commands.length - 1;
      throw new Error(`${e.message}\n${trace(where)}${at >= scenario.commands.length ? `\n  final: ${scenario.final}` : ''}`);
    }
    throw e;
  } finally {
    h.dispose();
  }
}

describe('RxSocket against a reference model (fast-check)', () => {
  afterAll(() => {
    if (process.env.MODEL_STATS) console.log([...seen].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${String(n).padStart(7)}  ${k}`).join('\n'));
  });

  it('keeps every documented inbound, outbound and lifecycle rule under random interleavings', () => {
    // MODEL_SEED / MODEL_PATH replay a failure that fast-check reported.
    const replay = process.env.MODEL_SEED === undefined ? {} : { seed: Number(process.env.MODEL_SEED), path: process.env.MODEL_PATH };
    fc.assert(fc.property(scenarioArb, run), { numRuns: NUM_RUNS, ...replay });
  });

  describe('counterexamples the model found, replayed', () => {
    const plain: Opts = {
      inboundHold: 1,
      policy: 'error',
      maxMessages: 1,
      maxBytes: 4,
      pauseReading: false,
      batchWrites: false,
      rate: null,
      heartbeat: null,
      tcpWindow: null,
      connecting: false,
    };

    it('writable$ subscribers after one that terminates the socket from its callback still end on false', () => {
      // W1 terminates when told "false"; writable$ completes inside that notification, so W2 never gets the false.
      run({
        options: plain,
        commands: [
          { c: 'watchWritable', kind: 'terminateOnFalse' },
          { c: 'watchWritable', kind: 'plain' },
          { c: 'close', via: 'close', code: 1000 },
        ],
        final: 'drop',
      });
    });

    it('a socket ended by a subscriber while its queued frames go out on open leaves no heartbeat running', () => {
      // On open the queued frame goes out, writable$ says true, W1 writes into a full TCP buffer, writable$
      // says false, W2 terminates: all inside out.open(), before the socket starts its heartbeat.
      run({
        options: { ...plain, heartbeat: { interval: 1000, timeout: 500 }, connecting: true },
        commands: [
          { c: 'watchWritable', kind: 'writeOnTrue' },
          { c: 'watchWritable', kind: 'terminateOnFalse' },
          { c: 'next', frame: { kind: 'text', size: 0 } },
          { c: 'open' },
        ],
        final: 'drop',
      });
    });
  });
});
