/**
 * Model-based property test of RxSocket over the FakeWebSocket.
 *
 * fast-check draws socket options and a sequence of commands (the peer sends,
 * pings, pongs, floods, closes or vanishes; TCP stalls and drains; subscribers
 * come and go, some of them calling back into the socket from inside `next`,
 * as do subscribers of `writable$`, `close$` and `errors$`; we send, close,
 * terminate; virtual time passes). A harness runs them against a real
 * RxSocket and keeps a small reference model beside it:
 *
 * - inbound: every frame the socket reads is recorded (the fake's emits are
 *   observed), and every delivery to every subscriber; from that trace it
 *   checks order, exactly-once, hand-over of held frames, what a subscriber
 *   that joins or leaves half-way must get, the hold bound and pausing, that
 *   frames read before `terminate()`, a violation (the rate limit) or a
 *   cut-off (a ping or pong flood, pongs owed) are delivered, those the rate
 *   limit held included, and that every frame read after it is discarded and
 *   counted;
 * - budgets: control frames (pings, pongs, application pings) count against
 *   the control budget (`Defaults.controlFramesPerSecond`) and, within it,
 *   against the rate limit like a data frame of their payload's size; both
 *   budgets and both rate policies are judged in exact integer arithmetic:
 *   which frame is delivered, held, or ends the socket and why (the socket's
 *   `log` says, at once), when the `pause` policy stops reading and for how
 *   long (its timers are watched on the scheduler it is given), and that a
 *   control frame read while the limiter holds frames costs the rate nothing.
 *   Exactly on a budget's edge the socket's floats may fall either way: the
 *   model follows the way the socket's first sign shows;
 * - cut-offs (a control flood, `Defaults.pongBacklog` pongs owed): the queue
 *   is reported dropped rather than flushed, the 1008 close frame goes out
 *   alone while ws is open, the socket never reads again and ends its TCP
 *   side, and `close$` reports 1008 with the reason, not clean;
 * - outbound: the model predicts exactly what reaches the wire, what the
 *   queue holds, what `errors$` reports (and in which state of the socket)
 *   and what `send()` throws;
 * - lifecycle: `state`, `writable$`, `close$`, stats, the order of the end
 *   (the rate limit's frames, the unsent frames' report, `close$`,
 *   `messages$`, `writable$`), the teardown (listeners, drain listener,
 *   heartbeat timers, scheduled actions), and the log: one line for how the
 *   socket ended, by the first that knows why (a violation, a cut-off, the
 *   'close' policy), or else for a close that was not clean, never for a
 *   clean one.
 *
 * Checks that need a settled state run after each top-level command; checks on
 * single events run as they happen and are reported at the next settled point.
 */
import fc from 'fast-check';
import { Subscriber, take, type Observable, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { WebSocket } from 'ws';
import {
  BackpressureError,
  FrameDroppedError,
  InvalidFrameError,
  RxSocket,
  SocketClosedError,
  type CloseInfo,
  type Inbound,
  type OutboundPolicy,
  type RxSocketOptions,
} from '../../src';
import { APP_PING, APP_PONG, Defaults } from '../../src/constants';
import { HeartbeatMonitor } from '../../src/socket/heartbeat';
import { FakeWebSocket } from '../../src/testing/fake-ws';
import { listenerCounts } from '../support/fake';
import { assertModel, situations } from '../support/model';

const OPEN = WebSocket.OPEN;
const HOLD_BYTES = Defaults.inboundHoldBytes;
/** Two of these fill the 1 MiB hold. */
const BIG = HOLD_BYTES / 2 + 1;
/** How often each interesting situation came up (MODEL_STATS=1 prints it: a check on the generators, not on the socket). */
const note = situations();

// ---------------------------------------------------------------- scenario

type Kind = 'text' | 'binary';
type InSize = 'tiny' | 'small' | 'big';
interface PeerFrame {
  /** 'app': the text of an application ping (a control frame when `appPing` is on); 'appLike': its bytes in a binary frame (data). */
  readonly kind: Kind | 'app' | 'appLike';
  readonly size: InSize;
}
/** A control frame from the peer. */
type ControlKind = 'ping' | 'pong';
/** What a burst of the peer's frames, read at one instant, is made of. */
type BurstItem = ControlKind | 'data' | 'app';
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
  | { readonly a: 'pingFlood' }
  /** The peer pings or pongs (read at once unless the socket is paused). */
  | { readonly a: 'control'; readonly kind: ControlKind };

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
  /**
   * `read`: ws has read them already (in the chunk it was parsing when paused): they arrive even while paused, after what waited.
   * `size`: the payload's bytes (what a `bytes` rate limit counts). `last: 'app'`: the last one is an application ping.
   */
  | { readonly c: 'ping'; readonly count: number; readonly size?: number; readonly read?: boolean; readonly last?: 'app' }
  /** Unsolicited pongs (or a flood of them). */
  | { readonly c: 'pong'; readonly count: number; readonly size?: number; readonly read?: boolean }
  /** Data and control frames interleaved, sent at one instant (`read`: all of them read at once, paused or not). */
  | { readonly c: 'burst'; readonly items: readonly BurstItem[]; readonly read?: boolean }
  | { readonly c: 'advance'; readonly ms: number };

/**
 * A writable$ subscriber: 'writeOnTrue' writes into a full TCP buffer when told it may (twice at most);
 * 'closeOnFalse' / 'terminateOnFalse' end the socket the first time it is told it may not.
 */
type WatchKind = 'plain' | 'writeOnTrue' | 'closeOnFalse' | 'terminateOnFalse';

type Final = 'drop' | 'handshake' | 'terminate' | 'peerClose';

/**
 * Reports whose place in errors$ the model cannot foresee exactly: the 'close' policy's; the frames left unsent at
 * the end; those in the queue of a peer cut off (told once the rate limit's frames are handed over).
 */
type ReportKind = 'close' | 'closed' | 'cut';

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
  /** `life: 'pong'`: only pongs are signs of life (not frames nor pings). */
  readonly heartbeat: { readonly interval: number; readonly timeout: number; readonly life?: 'pong' } | null;
  /** Frames the TCP socket takes after a drain before it needs to drain again (null: any number). */
  readonly tcpWindow: number | null;
  /** A client socket wrapped before its handshake completed. */
  readonly connecting: boolean;
  /** Application pings (`appPing`: APP_PING answered with APP_PONG) on. */
  readonly appPing: boolean;
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
  kind: weighted<PeerFrame['kind']>([12, fc.constant('text')], [12, fc.constant('binary')], [2, fc.constant('app')], [1, fc.constant('appLike')]),
  size: weighted<InSize>([8, fc.constant('tiny')], [3, fc.constant('small')], [2, fc.constant('big')]),
});
const outFrameArb: fc.Arbitrary<OutFrame> = fc.record({
  kind: weighted<Kind | 'invalid'>([6, fc.constant('text')], [3, fc.constant('binary')], [1, fc.constant('invalid')]),
  size: fc.constantFrom(0, 3, 6, 12, 40, 100),
});
const closeCodeArb = fc.constantFrom(1000, 1001, 4000);
/** Payload bytes of a ping or pong (at most 125; a `bytes` rate limit of 16 needs a full bucket for the largest). */
const controlSizeArb = weighted<number>([4, fc.constant(0)], [2, fc.constant(4)], [1, fc.constant(20)], [1, fc.constant(125)]);
const controlKindArb = fc.constantFrom<ControlKind>('ping', 'pong');
const FLOOD = Defaults.controlFramesPerSecond + 1;

/** Acts of a subscriber made from inside another's next (no deeper nesting). */
const leafActArb: fc.Arbitrary<Act> = fc.oneof(
  fc.constant<Act>({ a: 'unsubscribeSelf' }),
  outFrameArb.map((frame): Act => ({ a: 'next', frame })),
  closeCodeArb.map((code): Act => ({ a: 'close', code })),
  fc.constant<Act>({ a: 'terminate' }),
  peerFrameArb.map((frame): Act => ({ a: 'peer', frame })),
  fc.constant<Act>({ a: 'drain' }),
  controlKindArb.map((kind): Act => ({ a: 'control', kind })),
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
  controlKindArb.map((kind): Act => ({ a: 'control', kind })),
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
      [8, controlSizeArb.map((size): Cmd => ({ c: 'ping', count: 1, size }))],
      [1, fc.constant<Cmd>({ c: 'ping', count: FLOOD })],
      [1, fc.constant<Cmd>({ c: 'ping', count: FLOOD, read: true })],
      [1, fc.constant<Cmd>({ c: 'ping', count: FLOOD, last: 'app' })],
    ),
  ],
  [
    4,
    weighted<Cmd>(
      [6, controlSizeArb.map((size): Cmd => ({ c: 'pong', count: 1, size }))],
      [2, fc.integer({ min: 2, max: 4 }).map((count): Cmd => ({ c: 'pong', count }))],
      [1, fc.constant<Cmd>({ c: 'pong', count: FLOOD })],
      [1, fc.constant<Cmd>({ c: 'pong', count: FLOOD, read: true })],
    ),
  ],
  [
    5,
    fc
      .record({
        items: fc.array(weighted<BurstItem>([3, fc.constant('ping')], [2, fc.constant('pong')], [3, fc.constant('data')], [1, fc.constant('app')]), { minLength: 2, maxLength: 8 }),
        read: fc.boolean(),
      })
      .map(({ items, read }): Cmd => ({ c: 'burst', items, read })),
  ],
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
    [
      1,
      fc
        .record({ interval: fc.constantFrom(1000, 3000), timeout: fc.constantFrom(500, 2000), pongOnly: weighted<boolean>([2, fc.constant(false)], [1, fc.constant(true)]) })
        .map(({ pongOnly, ...hb }) => (pongOnly ? { ...hb, life: 'pong' as const } : hb)),
    ],
  ),
  tcpWindow: weighted<number | null>([1, fc.constant(null)], [1, fc.integer({ min: 1, max: 3 })]),
  connecting: weighted<boolean>([3, fc.constant(false)], [1, fc.constant(true)]),
  appPing: weighted<boolean>([2, fc.constant(false)], [1, fc.constant(true)]),
});

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  options: optionsArb,
  commands: fc.array(cmdArb, { maxLength: 60, size: 'max' }),
  final: fc.constantFrom<Final>('drop', 'handshake', 'terminate', 'peerClose'),
});

// ---------------------------------------------------------------- rendering

function showPeer(f: PeerFrame): string {
  if (f.kind === 'app') return 'text APP_PING';
  if (f.kind === 'appLike') return "binary with APP_PING's bytes";
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
    case 'control':
      return `peer ${a.kind}s`;
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
    case 'pong':
      return `peer ${c.c}s x${c.count}${c.size ? ` (${c.size} B)` : ''}${c.c === 'ping' && c.last ? ', the last one an application ping' : ''}${c.read ? ' (read at once, paused or not)' : ''}`;
    case 'burst':
      return `peer sends ${c.items.join(', ')} at once${c.read ? ' (read at once, paused or not)' : ''}`;
    case 'advance':
      return `advance ${c.ms} ms`;
  }
}
function showOpts(o: Opts): string {
  const parts = [`inboundHold ${o.inboundHold}`, `outbound ${o.policy} max ${o.maxMessages} msgs/${o.maxBytes} B`];
  if (o.pauseReading) parts.push('pauseReading');
  if (!o.batchWrites) parts.push('no batchWrites');
  if (o.rate) parts.push(`rateLimit ${o.rate.policy} ${o.rate.messages ?? '-'} msg/s ${o.rate.bytes ?? '-'} B/s`);
  if (o.heartbeat) parts.push(`heartbeat ${o.heartbeat.interval}/${o.heartbeat.timeout} ms${o.heartbeat.life ? ' (life: pongs only)' : ''}`);
  if (o.tcpWindow !== null) parts.push(`TCP stalls after ${o.tcpWindow} frame(s)`);
  if (o.connecting) parts.push('starts connecting');
  if (o.appPing) parts.push('appPing');
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

type Decision = 'none' | 'ok' | 'over' | 'boundary';

/**
 * A budget's arithmetic in exact integers (thousandths of a message or byte;
 * virtual time in whole ms), to judge the socket's float bucket. Exactly on
 * the threshold (below the cap) the float may fall either way: 'boundary'.
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

  /** Refills up to `now` and judges a frame of `size` bytes, without taking it. */
  decide(size: number, now: number): Decision {
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
    return edge ? 'boundary' : 'ok';
  }

  /** Takes a frame judged within the budget. */
  deduct(size: number): void {
    if (this.messages !== Infinity) this.#msgs -= 1000;
    if (this.bytes !== Infinity) this.#bytes -= Math.min(size, this.bytes) * 1000;
  }

  /** Judges and, unless over, takes. */
  take(size: number, now: number): Decision {
    const decision = this.decide(size, now);
    if (decision !== 'over') this.deduct(size);
    return decision;
  }

  /**
   * The delays (ms) the socket may wait for a frame of `size` bytes that is not
   * taken now: the exact wait rounded up, or one more when the exact wait is a
   * whole number (the float may land a hair above it); 1 on a boundary (a hair short).
   */
  waits(size: number): number[] {
    const { messages, bytes } = this;
    const cost = Math.min(size, bytes) * 1000;
    // Each budget's wait as a fraction: thousandths missing over thousandths refilled per ms.
    const parts: [number, number][] = [];
    if (messages !== Infinity && this.#msgs < 1000) parts.push([1000 - this.#msgs, messages]);
    if (bytes !== Infinity && this.#bytes < cost) parts.push([cost - this.#bytes, bytes]);
    if (parts.length === 0) return [1];
    const [n, d] = parts.reduce((a, b) => (b[0] * a[1] > a[0] * b[1] ? b : a));
    return n % d === 0 ? [n / d, n / d + 1] : [Math.ceil(n / d)];
  }
}

// ---------------------------------------------------------------- harness

/** A FakeWebSocket whose emits the harness observes (before and after the socket's listeners run). */
class ObservedFake extends FakeWebSocket {
  harness: Harness | null = null;
  /** Frames the TCP socket still takes before it reports backpressure (null: no limit). */
  tcpLeft: number | null = null;
  /** The close frame written by close() (rxjs-ws's), as opposed to the fake answering the peer's close frame. */
  ownClose: { code: number; reason: string } | null = null;
  /** ws's count of its answers to the peer's pings not written yet (autoPong): they wait while TCP is stalled. */
  _pendingAutoPongs = 0;
  constructor(readyState: number) {
    super(readyState);
    // The socket ends its side of the TCP connection when it cuts the peer off (and only then).
    const raw = this._socket;
    const end = raw.end.bind(raw);
    raw.end = () => {
      this.harness?.onEnd();
      end();
    };
  }
  override close(code?: number, reason?: string): void {
    this.harness?.settle();
    const before = this.closeSent;
    super.close(code, reason);
    if (before === null && this.closeSent !== null) this.ownClose ??= { ...this.closeSent };
  }
  override send(data: unknown, options?: { binary?: boolean }): void {
    this.harness?.settle();
    const before = this.sent.length;
    super.send(data, options);
    if (this.sent.length > before && this.tcpLeft !== null && --this.tcpLeft <= 0) this._socket.writableNeedDrain = true;
  }
  override pause(): void {
    this.harness?.settle();
    super.pause();
  }
  /** ws has no receiver before the handshake: nothing the peer sends is read, pongs included. */
  override receivePong(data?: Buffer): void {
    if (this.readyState !== WebSocket.CONNECTING) super.receivePong(data);
  }
  override resume(): void {
    this.harness?.onResume();
    super.resume();
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
  /** Read after terminate() / a policy violation, or the frame that broke the rate limit: must not be delivered. */
  mustDiscard: boolean;
  why: string;
  /** Waits in the rate limit's hold ('pause'): not handed to messages$ yet. */
  rateHeld: boolean;
}

/** A sign of the socket that settles a decision the model could not foresee. */
type Signal =
  /** The socket's log line for a 1008 close (a violation: it tells before it acts). */
  | { readonly kind: 'log'; readonly logged: string }
  /** The rate limit set its release timer. */
  | { readonly kind: 'schedule'; readonly delay: number }
  /** The rate limit's release timer, firing, set itself again. */
  | { readonly kind: 'reschedule'; readonly delay: number }
  /** The socket stopped listening to the peer (it ends its TCP socket): a cut-off, whether or not it is logged. */
  | { readonly kind: 'cut' }
  /** The frame in hand was counted as discarded: it broke the rate limit, whether or not that is logged. */
  | { readonly kind: 'discard' };

/**
 * A decision on a budget's edge: the socket may go either way, and its first
 * sign tells which. `matches` picks the sign of the other way (a log line, a
 * timer), which comes before anything else; any other sign means the frame was
 * taken within the budget.
 */
interface Pending {
  readonly what: string;
  matches(signal: Signal): boolean;
  onSignal(signal: Signal): void;
  onTook(): void;
}

/** What a violation's log line says (lower case), and the close reason it goes with. */
const LOGGED: Readonly<Record<string, string>> = {
  'rate limit exceeded': 'Rate limit exceeded',
  'too many pings': 'Too many pings',
  'too many pongs': 'Too many pongs',
  'too many pongs owed': 'Too many pings',
};

/**
 * The rate limit as the model sees it: an exact bucket, and for the 'pause'
 * policy the frames it holds (in order), its release timer, and the release in
 * progress (the socket takes held frames one at a time, each handed over
 * before the next is judged; a frame read meanwhile joins the end).
 */
class RateModel {
  readonly bucket: ExactBucket;
  /** Frames waiting for budget, oldest first ([]: a control frame went over, nothing is held but reading stops); null: not holding. */
  held: Rx[] | null = null;
  /** When the release timer fires (virtual ms), once the socket has set it. */
  timerAt: number | null = null;
  /** A timer the socket must set before it is done with the frame in hand (`again`: the release timer, firing, sets itself again). */
  expect: { readonly what: string; readonly delays: readonly number[]; readonly again: boolean } | null = null;
  /** Inside the release timer. */
  firing = false;
  /** Inside the release timer, while the socket still takes held frames (it has neither stopped at one over the budget nor emptied its hold). */
  looping = false;
  /** Stopped at terminate(), a violation or the end: what it held was handed over; it counts nothing more. */
  stopped = false;

  constructor(
    readonly h: Harness,
    readonly policy: 'close' | 'pause',
    messages: number,
    bytes: number,
    now: number,
  ) {
    this.bucket = new ExactBucket(messages, bytes, now);
  }

  hold(rx: Rx): void {
    (this.held ??= []).push(rx);
    rx.rateHeld = true;
  }

  /** A data frame ('pause'): taken, or held (with everything after it) until the budget has refilled. */
  push(rx: Rx): void {
    const h = this.h;
    if (this.held !== null) {
      note(this.looping ? 'frame read inside a release joins it' : 'frame held behind others');
      this.hold(rx);
      // Read inside a delivery of the release in progress: the socket takes it in turn.
      if (this.looping) this.step();
      return;
    }
    const decision = this.bucket.decide(rx.size, h.now());
    if (decision === 'ok') return this.bucket.deduct(rx.size);
    if (decision === 'over') {
      note('rate limit holds a frame');
      this.hold(rx);
      this.expectTimer(`frame #${rx.k} is over the rate budget`, this.bucket.waits(rx.size), false);
      return;
    }
    note('rate budget on the float boundary (pause)');
    h.await({
      what: `frame #${rx.k} on the rate budget's edge`,
      matches: (s) => s.kind === 'schedule',
      onSignal: (s) => {
        this.hold(rx);
        this.timerSet(`frame #${rx.k} on the rate budget's edge`, s.kind === 'schedule' ? s.delay : 0, [1]);
      },
      onTook: () => this.bucket.deduct(rx.size),
    });
  }

  /**
   * A control frame ('pause'): it takes from the budget, unless the limiter
   * holds frames already (reading is paused: it costs nothing). Over the budget,
   * nothing is held, but the socket stops reading until the budget has refilled.
   */
  control(size: number, what: string, then: () => void): void {
    const h = this.h;
    if (this.held !== null) {
      note('control frame while the rate limit holds: not counted');
      return then();
    }
    const decision = this.bucket.decide(size, h.now());
    if (decision === 'ok') {
      this.bucket.deduct(size);
      return then();
    }
    if (decision === 'over') {
      note('control frame stops reading (rate limit pause)');
      this.held = [];
      this.expectTimer(`${what} is over the rate budget`, this.bucket.waits(size), false);
      return then();
    }
    note('rate budget on the float boundary (pause, control frame)');
    h.await({
      what: `${what} on the rate budget's edge`,
      matches: (s) => s.kind === 'schedule',
      onSignal: (s) => {
        this.held = [];
        this.timerSet(`${what} on the rate budget's edge`, s.kind === 'schedule' ? s.delay : 0, [1]);
        then();
      },
      onTook: () => {
        this.bucket.deduct(size);
        then();
      },
    });
  }

  expectTimer(what: string, delays: readonly number[], again: boolean): void {
    if (this.expect !== null) this.h.fail(`model: two rate timers expected (${this.expect.what}; ${what})`);
    this.expect = { what, delays, again };
  }

  timerSet(what: string, delay: number, delays: readonly number[]): void {
    if (!delays.includes(delay)) this.h.fail(`${what}: the rate limit waits ${delay} ms, expected ${delays.join(' or ')} ms`);
    this.timerAt = this.h.now() + delay;
  }

  /** The socket set its release timer (a frame, or a control frame, went over the budget). */
  onSchedule(delay: number): void {
    const h = this.h;
    if (h.settle({ kind: 'schedule', delay })) return;
    const e = this.expect;
    this.expect = null;
    if (e === null || e.again) {
      h.fail(`the rate limit set a timer (${delay} ms), though nothing is over its budget (${h.now()} ms${this.stopped ? ', limiter stopped' : ''})`);
      if (!this.stopped) this.held ??= [];
    } else this.timerSet(e.what, delay, e.delays);
    // (Stopped by what the same frame did next, a violation: the timer is cancelled at once.)
    this.timerAt = this.stopped ? null : h.now() + delay;
  }

  /** The release timer fires: held frames go out, in order, while the budget allows. */
  onFire(): void {
    const h = this.h;
    h.settle();
    if (this.stopped) return h.fail(`the rate limit's timer fired at ${h.now()} ms, after the limiter was stopped`);
    if (this.timerAt === null || this.held === null) return h.fail(`the rate limit's timer fired at ${h.now()} ms, though none was due`);
    if (this.timerAt !== h.now()) h.fail(`the rate limit's timer fired at ${h.now()} ms, expected at ${this.timerAt} ms`);
    this.timerAt = null;
    this.firing = true;
    this.looping = true;
    note(this.held.length === 0 ? 'rate limit resumes after a control frame' : 'rate limit releases');
    this.step();
  }

  /** The socket's release loop: judge the oldest held frame, hand it over if the budget allows, and on. */
  step(): void {
    const h = this.h;
    const held = this.held;
    while (this.looping && held !== null && held.length > 0) {
      const rx = held[0]!;
      const decision = this.bucket.decide(rx.size, h.now());
      if (decision === 'ok') {
        this.bucket.deduct(rx.size);
        this.release(rx);
        continue;
      }
      if (decision === 'over') {
        this.looping = false;
        this.expectTimer(`frame #${rx.k} is still over the rate budget`, this.bucket.waits(rx.size), true);
        return;
      }
      note('rate budget on the float boundary (release)');
      h.await({
        what: `frame #${rx.k} on the rate budget's edge as it is released`,
        matches: (s) => s.kind === 'reschedule' && s.delay === 1,
        onSignal: (s) => {
          this.looping = false;
          this.timerSet(`frame #${rx.k} on the rate budget's edge`, s.kind === 'reschedule' ? s.delay : 0, [1]);
        },
        onTook: () => {
          this.bucket.deduct(rx.size);
          this.release(rx);
          this.step();
        },
      });
      return;
    }
  }

  release(rx: Rx): void {
    this.held!.shift();
    rx.rateHeld = false;
  }

  /** The release timer, firing, set itself again: frames are left over the budget. */
  onReschedule(delay: number): void {
    const h = this.h;
    if (h.settle({ kind: 'reschedule', delay })) return;
    const e = this.expect;
    this.expect = null;
    if (e === null || !e.again) h.fail(`the rate limit waits again (${delay} ms) at ${h.now()} ms, though ${this.held?.length ? `frame #${this.held[0]!.k} is within the budget` : 'it holds nothing'}`);
    else this.timerSet(e.what, delay, e.delays);
    this.looping = false;
    this.timerAt = h.now() + delay;
  }

  /** The socket reads again: inside the release, its loop has ended with nothing left. */
  onResume(): void {
    if (!this.firing || !this.looping || this.held === null) return;
    if (this.held.length > 0) this.h.fail(`the socket reads again with ${this.held.length} frame(s) over the rate budget still held`);
    this.held = null;
    this.looping = false;
  }

  /** The release timer is done. */
  onFireEnd(): void {
    const h = this.h;
    h.settle();
    this.firing = false;
    if (this.stopped) return;
    if (this.expect !== null) {
      h.fail(`${this.expect.what}: expected the rate limit to wait ${this.expect.delays.join(' or ')} ms more, but it set no timer`);
      this.expect = null;
    }
    if (this.looping) {
      this.looping = false;
      if (this.held !== null && this.held.length === 0) this.held = null;
    }
  }

  /** terminate(), a violation, the end: what it held is handed over; it counts nothing from now on. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const rx of this.held ?? []) rx.rateHeld = false;
    this.held = null;
    this.timerAt = null;
    // A timer the frame in hand sets still comes first (a ping over the rate, then owed too many pongs).
    if (this.expect?.again) this.expect = null;
    this.looping = false;
  }
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
  /** The model's `discarding` as the frame was read. */
  readonly discardingBefore: boolean;
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
  /** The 'close' policy fired inside the write in progress (the frames it discards): the socket starts closing, then reports them. */
  overflow: number | null = null;
  /** The socket has settled its close: what the rate limit held is delivered, then the unsent frames reported, then close$ told. */
  settled = false;
  /**
   * Reports whose place in errors$ depends on what subscribers do first (the 'close' policy's, told once the socket
   * is closing; the unsent frames', told after the rate limit's frames): expected when told, or at their deadline.
   */
  readonly pendingReports: { readonly kind: ReportKind; readonly text: string; readonly n: number }[] = [];
  terminated: 'user' | 'heartbeat' | null = null;
  closeInfo: CloseInfo | null = null;
  /** The first close rxjs-ws started, and whether ws was still open to send its frame. */
  firstClose: { readonly code: number; readonly reason: string; onWire: boolean } | null = null;
  wsClose: { code: number; reason: string } | null = null;
  readonly closeEmissions: CloseInfo[] = [];
  closeCompleted = false;
  readonly writableSeen: boolean[] = [];
  readonly watchers: { no: number; kind: WatchKind; values: boolean[]; done: boolean; writes: number }[] = [];
  writableCompleted = false;
  /** The rate limit (null: none). */
  readonly rate: RateModel | null;
  /** The control budget (pings, pongs, application pings), made with the first one counted. */
  controlBucket: ExactBucket | null = null;
  /** Virtual time of the last sign of life the socket saw (frame, ping, or pong once it listens for them). */
  lastLife = 0;
  /** Control frames counted against the control budget. */
  controlCount = 0;
  /** Payloads of the pings the socket was told of (ws answers each with a pong of the same payload). */
  readonly pingsRead: Buffer[] = [];
  /** Frames without an id (APP_PING's bytes) read so far. */
  unprefixed = 0;
  /** The decision on a budget's edge the model waits on the socket's first sign for. */
  pending: Pending | null = null;
  /** Violations the model foresees, as the socket logs them: each must be logged before the frame in hand is done. */
  readonly expectedLogs: string[] = [];
  /** Violations and cut-offs the model foresees once the socket's end is logged already: not logged again. */
  readonly silentLogs: string[] = [];
  /** What the socket logged about its end (one line at most). */
  readonly endLines: string[] = [];
  /** The peer was cut off (a flood): the reason of the 1008 the socket ends with, whatever ws says. */
  cut: string | null = null;
  /** The cut-off was through before the socket closed: close$ says 1008 with its reason. */
  cutEnds = false;
  /** The application pong written in the read in progress hit the 'close' policy. */
  appOverflow = false;

  constructor(opts: Opts) {
    this.opts = opts;
    this.fake = new ObservedFake(opts.connecting ? WebSocket.CONNECTING : WebSocket.OPEN);
    this.opened = !opts.connecting;
    this.ratePause = opts.rate?.policy === 'pause';
    const sched = opts.rate !== null || opts.heartbeat !== null ? new TestScheduler(() => undefined) : null;
    this.sched = sched;
    const rate = opts.rate;
    this.rate = rate === null || sched === null ? null : new RateModel(this, rate.policy, rate.messages ?? Infinity, rate.bytes ?? Infinity, sched.now());
    const options: RxSocketOptions = {
      inboundHold: opts.inboundHold,
      outbound: { policy: opts.policy, maxMessages: opts.maxMessages, maxBytes: opts.maxBytes, pauseReading: opts.pauseReading, batchWrites: opts.batchWrites },
      ...(rate && sched
        ? { rateLimit: { ...(rate.messages ? { messages: rate.messages } : {}), ...(rate.bytes ? { bytes: rate.bytes } : {}), policy: rate.policy, scheduler: this.watched(sched) } }
        : {}),
      ...(opts.heartbeat && sched ? { heartbeat: { ...opts.heartbeat, scheduler: sched } } : {}),
      ...(opts.appPing ? { appPing: { ping: APP_PING, pong: APP_PONG } } : {}),
      // A violation is logged as it is decided, before the socket acts on it: the model learns of one on a budget's edge there.
      log: (line) => this.onLog(line),
    };
    this.fake.tcpLeft = opts.tcpWindow;
    this.socket = new RxSocket(this.fake as unknown as WebSocket, options);
    this.lastLife = this.now();
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

  /** The rate limit's time source: the test scheduler, with the limiter's timers watched (set, fired, set again). */
  watched(sched: TestScheduler): SchedulerLike {
    const h = this;
    return {
      now: () => sched.now(),
      schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay = 0, state?: T): Subscription {
        h.rate?.onSchedule(delay);
        return sched.schedule(
          function (this: SchedulerAction<T>, s?: T) {
            const action = this;
            const again = {
              schedule: (st?: T, d = 0) => {
                h.rate?.onReschedule(d);
                return action.schedule(st, d);
              },
            } as unknown as SchedulerAction<T>;
            h.rate?.onFire();
            try {
              work.call(again, s);
            } finally {
              h.rate?.onFireEnd();
            }
          },
          delay,
          state,
        );
      },
    };
  }

  /** Waits for the socket's first sign to settle a decision on a budget's edge. */
  await(p: Pending): void {
    if (this.pending !== null) this.fail(`model: ${p.what} while ${this.pending.what} is still pending`);
    this.pending = p;
  }

  /**
   * The socket gave a sign (a log line, a timer, or anything else it did): the decision pending goes the way it
   * shows. Returns whether the sign was the other way's (it is then accounted for).
   */
  settle(signal: Signal | null = null): boolean {
    while (this.pending !== null) {
      const p = this.pending;
      this.pending = null;
      if (signal !== null && p.matches(signal)) {
        note(`edge settled by a ${signal.kind}`);
        p.onSignal(signal);
        return true;
      }
      p.onTook();
    }
    return false;
  }

  /**
   * The socket's log: one line for how it ended, said once, by the first that knows why. A 1008 close (a
   * violation or a cut-off) is logged as soon as it is decided, before the socket acts on it; the 'close'
   * policy's 1013 as it fires; any other close that was not clean as the socket settles it.
   */
  onLog(line: string): void {
    const m = /^socket from unknown closed (\d+)(?: \((.*)\))?$/.exec(line);
    if (m === null) return this.fail(`unexpected log line: ${line}`);
    const code = m[1]!;
    const what = m[2] ?? '';
    const before = this.endLines.slice();
    this.endLines.push(line);
    if (code === '1008' && this.socket.closeInfo === null) {
      // Decided on a budget's edge (the log is the sign of the way it went), or foreseen.
      const take = (list: string[]) => {
        const at = list.indexOf(what);
        if (at >= 0) list.splice(at, 1);
        return at >= 0;
      };
      const foreseen = this.settle({ kind: 'log', logged: what }) || take(this.expectedLogs) || take(this.silentLogs);
      if (!foreseen) {
        this.fail(`the socket closed 1008 (${what}), though nothing called for it`);
        if (!this.discarding) this.violate(LOGGED[what] ?? what, this.fake.readyState === OPEN);
      }
      if (before.length === 0) return;
      return this.fail(`the socket's end logged again: "${line}" after "${before.join('", "')}"`);
    }
    this.settle();
    if (before.length > 0) this.fail(`the socket's end logged again: "${line}" after "${before.join('", "')}"`);
    if (code === '1013' && this.socket.closeInfo === null) {
      if (what !== 'outbound queue full' || this.overflow === null) this.fail(`logged "${line}", though the 'close' policy did not fire`);
      return;
    }
    // The end itself, logged as the socket settles it (closeInfo is known, nobody has been told yet).
    const info = this.socket.closeInfo;
    if (info === null || this.closed) return this.fail(`logged "${line}" ${info === null ? 'before the socket closed' : 'after close$ was told'}`);
    const expected = `socket from unknown closed ${info.code}${info.reason ? ` (${info.reason})` : ''}`;
    if (info.wasClean || line !== expected) this.fail(`logged "${line}" for a ${info.wasClean ? 'clean ' : ''}close ${showInfo(info)}${info.wasClean ? '' : `, expected "${expected}"`}`);
    note(`abnormal close logged (${info.code})`);
  }

  /** A violation the model foresees: the socket must log it, discard from now on and close with 1008. */
  expectViolation(reason: string, logged: string): void {
    (this.endLines.length === 0 ? this.expectedLogs : this.silentLogs).push(logged);
    this.violate(reason, this.fake.readyState === OPEN);
  }

  /** A flood the model foresees (control frames, pongs owed): the socket must log it and cut the peer off. */
  expectCut(reason: string, logged: string): void {
    (this.endLines.length === 0 ? this.expectedLogs : this.silentLogs).push(logged);
    this.cutOff(reason);
  }

  /** The socket ends its side of the TCP connection: the last step of a cut-off, which then says how the socket ends. */
  onEnd(): void {
    this.settle({ kind: 'cut' });
    if (this.cut === null) return this.fail('the socket ended its TCP side, though it cut nobody off');
    // (Unless the socket closed first: ws closed inside what the cut-off told, before it was through.)
    if (this.socket.closeInfo === null) this.cutEnds = true;
  }

  /** The socket reads again (inside the rate limit's release: its loop has ended). */
  onResume(): void {
    this.settle();
    if (this.cut !== null) this.fail(`the socket reads again from a peer it cut off (${this.cut})`);
    this.rate?.onResume();
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
      case 'pong':
        if (cmd.count >= FLOOD) note(`${cmd.c} flood${cmd.read ? ' (read at once)' : ''}`);
        for (let i = 0; i < cmd.count; i++) {
          if (cmd.c === 'ping' && cmd.last === 'app' && i === cmd.count - 1) this.peer({ kind: 'app', size: 'tiny' });
          else this.control(cmd.c, cmd.size ?? 0);
        }
        if (cmd.read) this.fake.arrived(this.fake.waiting);
        return;
      case 'burst':
        for (const item of cmd.items) {
          if (item === 'data') this.peer({ kind: 'text', size: 'tiny' });
          else if (item === 'app') this.peer({ kind: 'app', size: 'tiny' });
          else this.control(item, 0);
        }
        if (cmd.read) this.fake.arrived(this.fake.waiting);
        return;
      case 'advance':
        return this.advance(cmd.ms);
    }
  }

  /** The peer pings or pongs with a payload of `size` bytes. */
  control(kind: ControlKind, size: number): void {
    const payload = Buffer.alloc(size, kind === 'ping' ? 'p' : 'q');
    if (kind === 'ping') this.fake.receivePing(payload);
    else this.fake.receivePong(payload);
  }

  peer(frame: PeerFrame): void {
    if (frame.kind === 'app' || frame.kind === 'appLike') return this.fake.receive(frame.kind === 'app' ? APP_PING : Buffer.from(APP_PING, 'latin1'));
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
    // Frames in the rate limit's hold come out as the budget refills: at most a second each (and a second for a
    // control frame over it ahead of them). The exact time is judged as the timer fires.
    const waitingUpTo = this.acceptedEnd();
    const waiting = waitingUpTo - this.delivered;
    const subscribers = this.subs.filter((s) => s.state === 'active');
    const releaseDue = this.ratePause && !this.discarding && subscribers.length > 0 ? sched.frame + (waiting + 1) * 1001 : Infinity;
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
    if (target >= releaseDue && stillSubscribed && !this.discarding && this.delivered < waitingUpTo) {
      this.fail(`${waitingUpTo - this.delivered} of ${waiting} frame(s) held by the rate limit still not delivered after ${ms} ms`);
    }
    const due = this.rate?.timerAt ?? null;
    if (due !== null && due <= target) this.fail(`the rate limit's timer due at ${due} ms did not fire (now ${target} ms)`);
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

    let refusal: string | null = null;
    let overflow = 0;
    if (this.closing || this.closed || this.fake.readyState > OPEN) refusal = `SocketClosed(${this.closedInfoNow()})`;
    else if (frame.kind === 'invalid') refusal = 'InvalidFrame';
    else ({ refusal, overflow } = this.channelWrite(norm, size));
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

  /** What the outbound channel does with a frame: straight to ws, or queued under the policy. */
  channelWrite(norm: string, size: number): { refusal: string | null; overflow: number } {
    const { opts } = this;
    if (this.opened && this.queue.length === 0 && !this.fake._socket.writableNeedDrain) {
      // (Only an application pong gets here with ws closing, the peer gone: ws drops it without a word.)
      if (this.fake.readyState === OPEN) this.expectedSent.push(norm);
      else note('application pong written while ws is closing');
      this.counts.sent++;
      return { refusal: null, overflow: 0 };
    }
    const fits = () => this.queue.length === 0 || (this.queue.length < opts.maxMessages && this.queueBytes + size <= opts.maxBytes);
    if (fits()) this.enqueue(norm, size);
    else if (opts.policy === 'error') return { refusal: `Backpressure(${this.queue.length} msgs, ${this.queueBytes} B)`, overflow: 0 };
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
      const overflow = this.queue.length + 1;
      this.queue = [];
      this.queueBytes = 0;
      return { refusal: null, overflow };
    }
    return { refusal: null, overflow: 0 };
  }

  /**
   * The answer to an application ping, written through the outbound channel like a frame of ours; a refusal
   * (policy 'error') is told to nobody, the 'close' policy closes.
   */
  appPong(): void {
    note(`application ping answered${this.queue.length > 0 || this.fake._socket.writableNeedDrain ? ' (pong queued or refused)' : ''}`);
    const { refusal, overflow } = this.channelWrite(`T:${APP_PONG}`, Buffer.byteLength(APP_PONG));
    if (refusal !== null) note('application pong refused (queue full)');
    if (overflow > 0) {
      note("application pong overflows the 'close' policy");
      this.overflow = overflow;
      this.appOverflow = true;
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
  expectLater(kind: ReportKind, n: number, why: 'close' | 'closed' = kind === 'close' ? 'close' : 'closed'): void {
    note(`FrameDropped ${kind}`);
    this.pendingReports.push({ kind, text: `FrameDropped(${why} x${n})`, n });
  }

  /** Past its deadline, a report not told yet is expected here (errors$ then shows it missing). */
  flushReports(kind: ReportKind): void {
    for (let i = 0; i < this.pendingReports.length; ) {
      if (this.pendingReports[i]!.kind !== kind) i++;
      else this.reported(i);
    }
  }

  /** A pending report is told (or due). */
  reported(at: number): void {
    const [r] = this.pendingReports.splice(at, 1);
    this.expectedErrors.push(r!.text);
    this.counts.dropped += r!.n;
    if (r!.kind === 'cut') {
      this.queue = [];
      this.queueBytes = 0;
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
      this.rate?.stop();
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
    // A cut-off reports what is left of the queue.
    const cut = this.pendingReports.findIndex((r) => r.kind === 'cut');
    if (cut >= 0) {
      this.pendingReports.splice(cut, 1);
      if (this.queue.length > 0) this.expectLater('cut', this.queue.length, 'closed');
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
    if (at >= 0) this.reported(at);
    if (e instanceof FrameDroppedError && e.why === 'close') {
      const ours = this.fake.ownClose;
      if (this.socket.state !== 'closing' && this.socket.state !== 'closed') this.fail(`${text} told while the socket was ${this.socket.state}`);
      else if (this.firstClose?.onWire === true && (ours === null || ours.code !== 1013 || ours.reason !== 'Outbound queue full')) this.fail(`${text} told before the close frame 1013 (close frame ${JSON.stringify(ours)})`);
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
      if (busy || this.cutNotClosing('an errors$ subscriber told of the queue')) return;
      busy = true;
      try {
        note(`errors$ subscriber ${act}s on ${normError(e).replace(/\(.*/, '')}`);
        this.offer({ kind: 'text', size: 0 }, act);
      } finally {
        busy = false;
      }
    });
  }

  /**
   * A flood (control frames over their budget, pongs owed): the peer is cut off. As on a violation, nothing read
   * from here on is delivered, only what was read before (the rate limit's hold); unlike one, the queue is not
   * flushed but reported dropped ('closed', before those frames are handed over), the close frame 1008 goes out
   * alone (while ws is open), the socket stops listening (its TCP socket ended), and close$ says 1008 with the
   * reason, not clean, however ws ends (but for a terminate() or a heartbeat timeout after it, or ws closing
   * before the cut-off is through: see onEnd).
   */
  cutOff(reason: string): void {
    if (this.cut !== null || this.closed) return;
    if (!this.discarding && this.ratePause && this.acceptedEnd() > this.delivered) note(`cut off (${reason}) with frames taken, not delivered`);
    note(`cut off: ${reason}${this.closing ? ' (closing)' : ''}${this.queue.length > 0 ? ' (frames queued)' : ''}`);
    this.cut = reason;
    this.discarding = true;
    this.rate?.stop();
    // The queue is let go of at once (it is memory the peer made us hold) and reported, before the rate limit's frames
    // are handed over.
    if (this.queue.length > 0) {
      this.expectLater('cut', this.queue.length, 'closed');
      this.queue = [];
      this.queueBytes = 0;
    }
    // Its close frame goes out whenever ws has sent none yet: also while a close() of ours is still flushing the queue
    // (the fake reads what waited as soon as the queue empties, not in a later tick as ws does).
    if (this.closing && this.fake.readyState === OPEN && this.fake.ownClose === null) {
      note('cut off while a close() flushes');
      this.firstClose = { code: 1008, reason, onWire: true };
    }
    this.closeModel(1008, reason, false);
  }

  /**
   * A cut-off tells (the frames the rate limit held, the report of the queue it let go of) only once the socket is
   * closing, as a violation does: what a subscriber does from inside is then refused. Fails otherwise; returns
   * whether the socket was not closing yet (its subscriber then does nothing from inside, so that the run goes on).
   */
  cutNotClosing(who: string): boolean {
    if (this.cut === null || this.socket.closeInfo !== null || this.socket.state === 'closing') return false;
    this.fail(`cut off (${this.cut}), but ${who} finds the socket ${this.socket.state}`);
    return true;
  }

  /** A policy violation: nothing is delivered from here on, and the socket closes with 1008. */
  violate(reason: string, flush: boolean): void {
    if (!this.discarding && this.ratePause && this.acceptedEnd() > this.delivered) note(`violation (${reason}) with frames taken, not delivered`);
    note(`violation: ${reason}${this.closing ? ' (closing)' : ''}`);
    this.discarding = true;
    this.rate?.stop();
    this.closeModel(1008, reason, flush);
  }

  /**
   * The socket may close on its own (a heartbeat timeout, the 'close' policy
   * firing); learn it before the next operation. A decision pending on a
   * budget's edge is settled first: whatever the socket did since shows it.
   */
  sync(): void {
    this.settle();
    if (this.closed) return;
    if (this.overflow !== null && (this.socket.state === 'closing' || this.socket.state === 'closed')) {
      this.expectLater('close', this.overflow);
      this.overflow = null;
      // (ws is closing only for an application pong written while the peer's frames were read after it vanished.)
      this.closeModel(1013, 'Outbound queue full', this.fake.readyState === OPEN);
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
      this.rate?.stop();
    }
    // Closing of its own accord shows as its close frame, as 'closing' while ws is still open, or as the queue
    // flushed unbidden. Every close the socket decides for itself is foreseen or logged first (a violation).
    const ours = this.fake.ownClose;
    const flushed = this.fake.sent.length > this.expectedSent.length;
    if (!this.closing && (ours !== null || flushed || (this.socket.state === 'closing' && this.fake.readyState === OPEN))) {
      this.fail(`the socket began closing by itself (state ${this.socket.state}, close frame ${JSON.stringify(ours)})`);
      this.violate(ours?.reason ?? '?', true);
    }
    // Settled: the close is known; what was never sent is reported (after the rate limit's frames, before close$).
    if (!this.settled && this.wsClose !== null && this.socket.closeInfo !== null) {
      this.settled = true;
      this.closing = true;
      // The rate limit is disposed: what it held is handed over.
      this.rate?.stop();
      // (A cut-off in progress reports the queue itself, with the same words.)
      if (this.queue.length > 0 && !this.pendingReports.some((r) => r.kind === 'cut')) this.expectLater('closed', this.queue.length);
      this.queue = [];
      this.queueBytes = 0;
    }
  }

  // ------------------------------------------------------------ what the socket does

  beforeEmit(event: string | symbol, args: unknown[]): Emit | null {
    const listening = this.fake.listenerCount(event) > 0;
    if (event === 'message' || event === 'ping' || (event === 'pong' && listening)) {
      this.sync();
      // (With `life: 'pong'`, only pongs.)
      if (event === 'pong' || this.opts.heartbeat?.life !== 'pong') this.lastLife = this.now();
    }
    if (event === 'message') {
      const [data, binary] = args as [Buffer, boolean];
      if (this.opts.appPing && !binary && data.toString() === APP_PING) {
        // An application ping: a control frame, kept from messages$ and out of the counts of frames read.
        if (this.current.length > 0) note('application ping read inside a delivery');
        this.controlFrame('app', data.length);
        return this.pushEmit('app', null, 'none');
      }
      let id = Number(/^i(\d+)\./.exec(data.toString('latin1', 0, 16))?.[1] ?? NaN);
      let value = this.peerFrames.get(id);
      if (value === undefined && data.toString('latin1') === APP_PING) {
        // APP_PING's bytes as data (binary, or appPing off): no id of its own.
        note(binary ? "binary frame with APP_PING's bytes read as data" : 'APP_PING read as data (appPing off)');
        id = -++this.unprefixed;
        value = binary ? Buffer.from(APP_PING, 'latin1') : APP_PING;
      }
      if (value === undefined) this.fail(`the socket read a frame the peer never sent (${data.toString('latin1', 0, 16)})`);
      const why = this.discarding ? (this.terminated ? 'terminate() was called' : 'a policy was violated') : '';
      const rx: Rx = { k: this.R.length, id, value: value ?? '', size: data.length, paused: this.fake.isPaused, status: 'pending', mustDiscard: this.discarding, why, rateHeld: false };
      this.R.push(rx);
      this.byId.set(id, rx);
      if (this.current.length > 0) note('frame read inside a delivery');
      if (this.fake.isPaused) note('frame read while paused');
      let decision: Decision = 'none';
      const rate = this.rate;
      if (!this.discarding && rate !== null) {
        if (rate.policy === 'pause') rate.push(rx);
        else {
          decision = rate.bucket.take(data.length, this.now());
          const broke = () => {
            rx.mustDiscard = true;
            rx.why = 'it broke the rate limit';
          };
          if (decision === 'over') {
            note('rate limit close');
            broke();
            this.expectViolation('Rate limit exceeded', 'rate limit exceeded');
          } else if (decision === 'boundary') {
            note('rate budget on the float boundary');
            this.await({
              what: `frame #${rx.k} on the rate budget's edge`,
              matches: (s) => (s.kind === 'log' && s.logged === 'rate limit exceeded') || s.kind === 'discard',
              onSignal: () => {
                broke();
                this.violate('Rate limit exceeded', this.fake.readyState === OPEN);
              },
              onTook: () => undefined,
            });
          }
        }
      }
      return this.pushEmit('message', rx, decision);
    }
    if (event === 'ping' || (event === 'pong' && listening)) {
      const data = args[0] as Buffer;
      if (event === 'ping') this.pingsRead.push(Buffer.from(data));
      if (this.current.length > 0) note(`${event} read inside a delivery`);
      this.controlFrame(event, data.length);
      return this.pushEmit(event, null, 'none');
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

  /**
   * A ping, a pong or an application ping, as the socket takes it: the control budget first (over it: 1008
   * "Too many pings" / "Too many pongs"), then the rate limit (like a data frame of its payload's size); then a
   * ping checks the pongs owed, and an application ping is answered. Nothing is counted once the socket discards.
   */
  controlFrame(kind: ControlKind | 'app', size: number): void {
    if (this.discarding) return note('control frame after a violation or terminate(): not counted');
    this.controlCount++;
    const what = `${kind === 'app' ? 'application ping' : kind} (control frame #${this.controlCount}${this.closing ? ', closing' : ''})`;
    const reason = kind === 'pong' ? 'Too many pongs' : 'Too many pings';
    const logged = reason.toLowerCase();
    // (Without a scheduler the socket's budget runs on Date.now(), which stands still during a run: see run().)
    this.controlBucket ??= new ExactBucket(Defaults.controlFramesPerSecond, Infinity, this.now());
    const decision = this.controlBucket.take(0, this.now());
    if (decision === 'over') {
      note(`control budget spent: ${logged}`);
      return this.expectCut(reason, logged);
    }
    if (decision === 'ok') return this.controlRate(kind, size, what);
    note(`control budget on the edge (${decision})`);
    this.await({
      what: `${what} on the control budget's edge`,
      matches: (s) => (s.kind === 'log' && s.logged === logged) || s.kind === 'cut',
      onSignal: () => this.cutOff(reason),
      onTook: () => this.controlRate(kind, size, what),
    });
  }

  /** A control frame within the control budget: the rate limit counts it too. */
  controlRate(kind: ControlKind | 'app', size: number, what: string): void {
    const rate = this.rate;
    if (rate === null) return this.controlAfter(kind);
    if (rate.policy === 'pause') return rate.control(size, what, () => this.controlAfter(kind));
    const decision = rate.bucket.take(size, this.now());
    if (decision === 'over') {
      note('control frame over the rate limit (close)');
      return this.expectViolation('Rate limit exceeded', 'rate limit exceeded');
    }
    if (decision === 'ok') return this.controlAfter(kind);
    note('rate budget on the float boundary (close, control frame)');
    this.await({
      what: `${what} on the rate budget's edge`,
      matches: (s) => s.kind === 'log' && s.logged === 'rate limit exceeded',
      onSignal: () => this.violate('Rate limit exceeded', this.fake.readyState === OPEN),
      onTook: () => this.controlAfter(kind),
    });
  }

  /** After the budgets: a ping closes a peer that is owed too many pongs; an application ping is answered, unless closing. */
  controlAfter(kind: ControlKind | 'app'): void {
    if (kind === 'ping' && this.fake._pendingAutoPongs >= Defaults.pongBacklog) {
      note('too many pongs owed');
      return this.expectCut('Too many pings', 'too many pongs owed');
    }
    if (kind === 'app') {
      if (this.closing) note('application ping while closing: not answered');
      else this.appPong();
    }
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

  pushEmit(event: string, rx: Rx | null, decision: Decision): Emit {
    const e: Emit = { event, rx, discardedBefore: this.socket.stats.discarded, nested: 0, decision, discardingBefore: this.discarding };
    this.emits.push(e);
    return e;
  }

  afterEmit(e: Emit | null): void {
    if (e === null) return;
    this.settle(e.event === 'message' && this.socket.stats.discarded - e.discardedBefore - e.nested > 0 ? { kind: 'discard' } : null);
    this.emits.pop();
    const total = this.socket.stats.discarded - e.discardedBefore;
    const parent = this.emits[this.emits.length - 1];
    if (parent !== undefined) parent.nested += total;
    // What the socket had to do for this frame before it was done with it.
    for (const logged of this.expectedLogs.splice(0)) this.fail(`expected the socket to close 1008 (${logged}) for the ${e.event} it read, but it did not decide so`);
    this.silentLogs.length = 0;
    // A cut-off is done within the frame that caused it: the queue it let go of is reported by now.
    this.flushReports('cut');
    const expect = this.rate?.expect;
    if (expect != null && !expect.again) {
      this.fail(`${expect.what}: expected the rate limit to stop reading for ${expect.delays.join(' or ')} ms, but it set no timer`);
      this.rate!.expect = null;
    }
    if (e.event === 'message') {
      const rx = e.rx!;
      const own = total - e.nested;
      if (own === 1) {
        rx.status = 'discarded';
        this.receiptDiscards++;
        if (!rx.mustDiscard) this.fail(`frame #${rx.k} was discarded, though nothing called for it`);
      } else if (own === 0) {
        rx.status = 'accepted';
        if (rx.mustDiscard) this.fail(`frame #${rx.k} was taken, though ${rx.why}`);
      } else this.fail(`reading frame #${rx.k} counted ${own} discards`);
    } else if (e.event === 'app' && this.appOverflow) {
      // The 'close' policy fired on the application pong: the socket closes, then reports what it discarded.
      this.appOverflow = false;
      this.sync();
      if (this.overflow !== null) this.fail("the 'close' policy fired on the application pong, but the socket did not close");
      this.overflow = null;
      this.flushReports('close');
    } else if (e.event !== 'close' && e.rx === null && this.discarding && !e.discardingBefore) {
      const cs = this.fake.ownClose;
      note(cs !== null && cs.code === 1008 ? `closed 1008 "${cs.reason}" on a control frame` : 'violation on a control frame while closing');
    }
  }

  onDeliver(sub: Sub, value: Inbound): void {
    this.settle();
    // The socket has closed: its rate limit was disposed, what it held is handed over.
    if (this.socket.closeInfo !== null) this.rate?.stop();
    const label = `S${sub.no} (${showKind(sub.kind)})`;
    const head = typeof value === 'string' ? value.slice(0, 16) : Buffer.isBuffer(value) ? value.toString('latin1', 0, 16) : String(value);
    const id = Number(/^i(\d+)\./.exec(head)?.[1] ?? NaN);
    const sameAs = (expected: Inbound) => (typeof expected === 'string' ? value === expected : Buffer.isBuffer(value) && value.equals(expected));
    let rx = this.byId.get(id);
    if (rx === undefined && Number.isNaN(id)) {
      // A frame without an id (APP_PING's bytes): the one this subscriber expects next, if it is that.
      const at = sub.start + sub.got.length;
      const want = this.R[at];
      rx = want !== undefined && want.id < 0 && sameAs(want.value) ? want : this.R.find((r) => r.id < 0 && r.k >= at && sameAs(r.value));
    }
    if (rx === undefined) return this.fail(`${label} got a frame the socket never read: ${JSON.stringify(head)}`);
    if (rx.rateHeld) this.fail(`${label} got frame #${rx.k}, which the rate limit should still hold (it is over the budget)`);
    const expected = rx.value;
    const same = sameAs(expected);
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
    if (sub.kind.s === 'reentrant' && sub.got.length >= sub.kind.on && sub.fired < (sub.kind.every ? 3 : 1) && !this.cutNotClosing('a subscriber handed a frame')) {
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
      case 'control':
        note(`${act.kind} inside a delivery`);
        return this.control(act.kind, 0);
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
    if (!info.wasClean && this.endLines.length === 0) this.fail(`close$ told of an abnormal close (${showInfo(info)}) that was never logged`);
  }

  /** What close$ must say, once ws has closed. */
  expectedInfo(): string {
    const ws = this.wsClose!;
    if (this.terminated === 'heartbeat') return '1006 "Heartbeat timeout" unclean HeartbeatTimeoutError';
    // No closing handshake finished after a terminate(), whatever ws parsed after it (the peer's close frame, in the same read).
    if (this.terminated === 'user') return '1006 "" unclean';
    // Cut off: the code this side ended the connection with, without a handshake.
    if (this.cut !== null && this.cutEnds) return `1008 "${this.cut}" unclean`;
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
    if (this.pending !== null) this.fail(`model: ${this.pending.what} still pending at a settled point`);

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
    // Only the rate limit's 'pause' holds frames back from a subscriber: the last ones taken, until the budget allows (or the socket discards).
    const rateHeld = this.rate?.held?.length ?? 0;
    if (this.R.slice(accepted - rateHeld, accepted).some((r) => !r.rateHeld)) this.fail('model: the rate limit holds frames out of order');
    if (active.length > 0 && this.delivered < accepted - rateHeld) {
      this.fail(`${accepted - rateHeld - this.delivered} frame(s) held while ${active.map((s) => `S${s.no}`).join(', ')} subscribe${active.length === 1 ? 's' : ''}${rateHeld > 0 ? ` (and ${rateHeld} wait for the rate budget)` : ''}`);
    }
    if (this.closed && active.length > 0) this.fail(`messages$ did not complete after the close (${active.map((s) => `S${s.no}`).join(', ')} still subscribed)`);
    for (const c of this.completions.splice(0)) {
      const rs = this.R.slice(0, c.received);
      const taken = rs.filter((r) => r.status !== 'discarded').length;
      if (taken !== c.delivered) this.fail(`messages$ completed (S${c.sub.no}) with ${taken - c.delivered} frame(s) never handed over`);
    }

    // The hold bound and reading (frames the rate limit held join the hold when the socket discards: past the bound, it stops reading).
    // A peer cut off is not read any more, whatever the hold (see onResume).
    if (this.opened && !this.closed && fake.readyState !== WebSocket.CLOSED && this.cut === null) {
      // (What the rate limit holds is not in the hold yet.)
      const held = this.R.slice(this.delivered, accepted - rateHeld);
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
      const limited = this.rate !== null && this.rate.held !== null;
      if (opts.pauseReading && queued && !fake.isPaused) this.fail('pauseReading: frames are queued, but the socket still reads');
      if (limited && !fake.isPaused) this.fail(`the rate limit holds ${rateHeld > 0 ? `${rateHeld} frame(s)` : 'back after a control frame over its budget'} (until ${this.rate!.timerAt} ms), but the socket still reads`);
      if (fake.isPaused && !full && !(opts.pauseReading && queued) && !limited) {
        this.fail(`the socket is paused with room in the hold (${held.length} held)${queued ? ', frames queued' : ''}${this.rate !== null ? ', the rate limit holding nothing' : ''}`);
      }
    }

    // A peer cut off is no longer listened to (its TCP socket is ended); no other is.
    if (fake._socket.ended !== (this.cut !== null)) this.fail(this.cut !== null ? `cut off (${this.cut}), but the socket still listens to the peer` : 'the socket stopped listening to a peer it did not cut off');

    // ws answers every ping it reads with a pong of the same payload (autoPong), whatever the socket decides.
    if (fake.pongs.length !== this.pingsRead.length || fake.pongs.some((p, i) => !p.equals(this.pingsRead[i]!))) {
      this.fail(`${fake.pongs.length} pong(s) answered ${this.pingsRead.length} ping(s) read`);
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

    // rxjs-ws's close frame on the wire (after the frames it flushed: ws drops anything sent later).
    const ours = this.fake.ownClose;
    const first = this.firstClose;
    if (first !== null && first.onWire) {
      // None only when ws was gone first (terminated, or the peer's close arrived while rxjs-ws flushed).
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
  // Without a rate limit or a heartbeat (each given the scheduler), the socket's control budget runs on real time:
  // it stands still during a run, so that the budget is judged exactly (it never refills).
  const { rate, heartbeat } = scenario.options;
  const clock = rate === null && heartbeat === null ? jest.spyOn(Date, 'now').mockReturnValue(Date.now()) : null;
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
    clock?.mockRestore();
  }
}

describe('RxSocket against a reference model (fast-check)', () => {
  it('keeps every documented inbound, outbound and lifecycle rule under random interleavings', () => {
    // A fixed seed, 1000 runs; MODEL_SEED, MODEL_RUNS and MODEL_PATH explore further or replay (spec/support/model.ts).
    assertModel(fc.property(scenarioArb, run), 20261201, 1000);
  });

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
    appPing: false,
  };

  describe('counterexamples the model found, replayed', () => {

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

    it("the 'close' policy tells its drop before frames read as reading resumes reach a subscriber that sends", () => {
      // The peer vanishes with app pings and a frame unread: answering the app ping overflows the queue, close()
      // resumes reading, and the subscriber's reply to the frame read then is refused after the drop, not before.
      run({
        options: { ...plain, policy: 'close', pauseReading: true, appPing: true },
        commands: [
          { c: 'stall' },
          { c: 'next', frame: { kind: 'text', size: 0 } },
          { c: 'subscribe', kind: { s: 'reentrant', on: 1, every: true, act: { a: 'next', frame: { kind: 'text', size: 0 } } } },
          { c: 'burst', items: ['app', 'app', 'data', 'ping', 'ping'], read: false },
        ],
        final: 'drop',
      });
    });

    it('a send refused while a cut-off hands over held frames says the socket was closing, though writable$ then ends it', () => {
      // The pong backlog cuts the peer off; a frame the rate limit held reaches a subscriber that sends; the
      // refusal tells writable$ "false", whose subscriber terminates: the refusal still names the state it met.
      run({
        options: { ...plain, rate: { messages: undefined, bytes: 16, policy: 'pause' } },
        commands: [
          { c: 'peer', frame: { kind: 'text', size: 'big' } },
          { c: 'subscribe', kind: { s: 'reentrant', on: 2, act: { a: 'send', frame: { kind: 'text', size: 0 } } } },
          { c: 'watchWritable', kind: 'terminateOnFalse' },
          { c: 'peer', frame: { kind: 'text', size: 'tiny' } },
          { c: 'owePongs', pings: 2 },
        ],
        final: 'drop',
      });
    });
  });

  describe('control frames and the rate limit, where the generator seldom goes', () => {
    const paused = (messages: number): Opts => ({ ...plain, inboundHold: 5, rate: { messages, bytes: undefined, policy: 'pause' } });

    it("a frame read while the 'pause' policy releases joins the release and waits its turn", () => {
      // f1 is held; f2 waits in TCP. At 1000 ms f1 is released, and its subscriber reads f2 (arrived) inside the
      // delivery: the release takes it in turn, finds it over the budget, and waits another second.
      run({
        options: paused(1),
        commands: [
          { c: 'peer', frame: { kind: 'text', size: 'tiny' } },
          { c: 'peer', frame: { kind: 'text', size: 'tiny' } },
          { c: 'peer', frame: { kind: 'text', size: 'tiny' } },
          { c: 'subscribe', kind: { s: 'reentrant', on: 2, act: { a: 'arrived' } } },
          { c: 'advance', ms: 1000 },
          { c: 'advance', ms: 1000 },
        ],
        final: 'drop',
      });
    });

    it("a ping over the 'pause' budget stops reading without holding anything; a pong meanwhile costs nothing", () => {
      run({
        options: paused(1),
        commands: [
          { c: 'ping', count: 2 },
          { c: 'pong', count: 1, size: 4, read: true },
          { c: 'peer', frame: { kind: 'text', size: 'tiny' } },
          { c: 'subscribe', kind: { s: 'plain' } },
          { c: 'advance', ms: 500 },
          { c: 'advance', ms: 500 },
          { c: 'pong', count: 1 },
        ],
        final: 'drop',
      });
    });

    it('a ping flood cuts the peer off: its queue is reported dropped, the 1008 goes alone, and close$ says 1008 unclean whatever the peer answers', () => {
      run({
        options: plain,
        commands: [
          { c: 'stall' },
          { c: 'next', frame: { kind: 'text', size: 0 } },
          { c: 'ping', count: FLOOD },
          { c: 'drain' },
        ],
        final: 'handshake',
      });
    });

    it('a peer owed too many pongs is cut off at the ping that reaches the backlog; the pings after it are not counted', () => {
      run({
        options: { ...plain, rate: { messages: 3, bytes: undefined, policy: 'close' } },
        commands: [
          { c: 'subscribe', kind: { s: 'plain' } },
          { c: 'peer', frame: { kind: 'text', size: 'tiny' } },
          { c: 'owePongs', pings: 3 },
          { c: 'peer', frame: { kind: 'text', size: 'tiny' } },
        ],
        final: 'peerClose',
      });
    });

    it('a flood that waited while reading was paused, read as close() flushes the queue, sends its own 1008 (ws had sent no close frame yet)', () => {
      run({
        options: { ...plain, pauseReading: true },
        commands: [
          { c: 'stall' },
          { c: 'next', frame: { kind: 'text', size: 0 } },
          { c: 'ping', count: FLOOD },
          { c: 'close', via: 'error', code: 1011 },
        ],
        final: 'handshake',
      });
    });

    it("an application ping over the 'close' budget closes 1008 unanswered, and is not counted as a frame", () => {
      run({
        options: { ...plain, appPing: true, rate: { messages: 1, bytes: undefined, policy: 'close' } },
        commands: [
          { c: 'subscribe', kind: { s: 'plain' } },
          { c: 'burst', items: ['data', 'app', 'data'] },
        ],
        final: 'drop',
      });
    });
  });
});
