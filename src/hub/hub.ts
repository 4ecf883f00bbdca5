import { randomBytes } from 'node:crypto';
import { asyncScheduler, ignoreElements, Observable, Subject, type SchedulerLike, type Subscription } from 'rxjs';
import { describe, InvalidArgumentError, RxjsWsError } from '../errors';
import type { AdapterLink, AdapterStats, HubAdapter, HubStatus } from './adapter';
import { memoryAdapter } from './memory';
import { Presence } from './presence';
import { Relay } from './relay';
import { snapshots } from '../operators/snapshots';
import { isPrepared } from '../socket/frames';
import { prepare, type PreparedFrame } from '../socket/prepared';
import { RxSocket } from '../socket/socket';
import type { Outbound } from '../socket/types';
import { expectBoolean, expectFunction, expectInteger, expectObject, expectScheduler } from '../validation';

export { AdapterOverflowError, AdapterRefusedError } from './adapter';

type Member = RxSocket<unknown>;

const MAX_TOPIC_LENGTH = 256;

/** Options of {@link createHub}. */
export interface HubOptions {
  /** Carries messages and presence to the hubs of other processes. @default memoryAdapter() (this process only) */
  readonly adapter?: HubAdapter;
  /**
   * With a shared adapter, how often this hub re-announces its member counts,
   * in ms. A process silent for three intervals (crashed, or cut off) is no
   * longer counted by `members$`.
   * @default 15000
   */
  readonly presenceInterval?: number;
  /** Time source of presence announcements and expiry. @default asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** Options of {@link Hub.publish}. */
export interface PublishOptions {
  /** A local member not to deliver to, typically the sender's own socket. @default none: every member gets it */
  readonly except?: RxSocket<unknown>;
  /** Deliver to this process's members only, not through the adapter. @default false */
  readonly local?: boolean;
}

/** Counters of one hub. */
export interface HubStats {
  /** Topics with local members. */
  readonly topics: number;
  /** Local sockets in at least one topic. */
  readonly sockets: number;
  /** Messages given to `publish()`. */
  readonly published: number;
  /** Frames handed to local members (each member's own policy then applies). */
  readonly delivered: number;
  /** Messages that came from other processes. */
  readonly received: number;
  /** Envelopes from other processes dropped as already seen (resent after a reconnect). */
  readonly duplicates: number;
  /** The adapter's traffic with other processes. */
  readonly adapter: AdapterStats;
}

/** A hub's counters at one moment, as `hub.metrics$()` emits them. */
export interface HubMetrics extends HubStats {
  /** When it was taken: the scheduler's `now()`, in ms. */
  readonly at: number;
  /** The adapter's connection now (`'connected'` for the in-memory default). */
  readonly status: HubStatus['state'];
}

/** `publish()` on a hub that was closed. Nothing was delivered. */
export class HubClosedError extends RxjsWsError {
  readonly code = 'RXJS_WS_HUB_CLOSED';
  constructor() {
    super('Cannot publish: the hub is closed');
  }
}

/**
 * Creates a hub: topics of sockets, broadcast and presence, in this process
 * or, with an adapter, across processes.
 *
 * @example
 * const hub = createHub(); // or createHub({ adapter: redisAdapter({ url: 'redis://127.0.0.1:6379' }) })
 * server.connections$.subscribe((socket) => {
 *   hub.join(socket, 'lobby'); // leaves by itself when the socket closes
 *   socket.messages$.subscribe((text) => hub.publish('lobby', text));
 * });
 * hub.members$('lobby').subscribe((n) => console.log(`${n} online`));
 */
export function createHub(options: HubOptions = {}): Hub {
  return new Hub(options);
}

/**
 * Sockets grouped by topic. `publish()` encodes a message once and hands the
 * same frame to every member with `socket.next()`, so each member's outbound
 * policy applies and a slow member never holds up the others. Delivery is
 * local first, at once; the adapter carries a copy to other processes, whose
 * hubs deliver it to their members: every member gets each message once, and
 * one publisher's messages in the order it published them.
 */
export class Hub {
  /** This hub's id in envelopes (32 hex digits). */
  readonly id = randomBytes(16).toString('hex');

  readonly #link: AdapterLink;
  readonly #members = new Map<string, Set<Member>>();
  readonly #joined = new Map<Member, { readonly topics: Set<string>; watch: Subscription | null }>();
  readonly #presence = new Presence();
  /** Talks to the other processes; null when the adapter reaches none. */
  readonly #relay: Relay | null = null;
  #published = 0;
  #delivered = 0;
  #closed: Promise<void> | null = null;
  readonly #scheduler: SchedulerLike;
  #state: HubStatus['state'] = 'connecting';
  /** Emits and completes once the hub has closed (ending every `metrics$()`). */
  readonly #ended = new Subject<void>();

  constructor(options: HubOptions = {}) {
    const o = expectObject('options', options) as HubOptions;
    const adapter = o.adapter ?? memoryAdapter();
    expectFunction('adapter.open', (adapter as Partial<HubAdapter> | null)?.open);
    const interval = o.presenceInterval === undefined ? 15_000 : expectInteger('presenceInterval', o.presenceInterval, 1);
    const scheduler: SchedulerLike = o.scheduler === undefined ? asyncScheduler : expectScheduler('scheduler', o.scheduler);
    this.#link = adapter.open({
      receive: (envelope) => this.#relay?.receive(envelope),
      subscribed: (topics) => this.#relay?.subscribed(topics),
    });
    this.#scheduler = scheduler;
    this.#link.status$.subscribe((status) => (this.#state = status.state));
    if (this.#link.shared) {
      this.#relay = new Relay(this.id, this.#link, this.#presence, scheduler, interval, {
        members: this.#members,
        deliver: (topic, frame) => this.#deliver(this.#members.get(topic)!, frame, undefined),
      });
    }
  }

  /** The adapter's connection: the current status, then each change. Completes after `close()`. */
  get status$(): Observable<HubStatus> {
    return this.#link.status$;
  }

  /**
   * What went wrong between the adapter and its broker: a publish the broker
   * refused and that was given up (counted in `stats.adapter.dropped`) or a
   * topic it would not subscribe, each an `AdapterRefusedError`; and the
   * queue for the broker overflowing (the broker unreachable or not
   * answering: the oldest publishes are dropped, counted in
   * `stats.adapter.dropped`), an `AdapterOverflowError` once per backlog.
   * Completes after `close()`.
   */
  get errors$(): Observable<RxjsWsError> {
    return this.#link.errors$ ?? this.#link.status$.pipe(ignoreElements());
  }

  /**
   * `stats`, with the adapter's status and the time, on subscription and then
   * every `interval` ms, until the hub has closed (with a last snapshot then).
   * Cold: each subscriber has its own timer. With Redis, `adapter.lag` says
   * how long the oldest publish not yet taken by Redis has waited.
   *
   * @param interval Ms between snapshots. @default 5000
   * @param scheduler Time source. @default the hub's `scheduler` option, else asyncScheduler
   */
  metrics$(interval = 5000, scheduler: SchedulerLike = this.#scheduler): Observable<HubMetrics> {
    const read = (at: number): HubMetrics => ({ ...this.stats, at, status: this.#state });
    return snapshots(read, interval, scheduler, this.#ended);
  }

  /** Topics with local members (a snapshot). */
  get topics(): string[] {
    return [...this.#members.keys()];
  }

  /** Counters of this hub and its adapter (a snapshot). */
  get stats(): HubStats {
    return {
      topics: this.#members.size,
      sockets: this.#joined.size,
      published: this.#published,
      delivered: this.#delivered,
      received: this.#relay?.received ?? 0,
      duplicates: this.#relay?.duplicates ?? 0,
      adapter: this.#link.stats,
    };
  }

  /** This process's members of `topic`. */
  members(topic: string): ReadonlySet<RxSocket<unknown>> {
    return this.#members.get(expectTopic(topic)) ?? NONE;
  }

  /**
   * How many sockets are in `topic` in every process (as far as this one
   * knows): the count now, then each change. Completes when the hub closes.
   *
   * @example
   * hub.members$('lobby').pipe(auditTime(100)).subscribe((n) => hub.publish('lobby', `${n} online`, { local: true }));
   */
  members$(topic: string): Observable<number> {
    expectTopic(topic);
    return new Observable<number>((subscriber) => {
      if (this.#closed !== null) return subscriber.complete();
      const unwatch = this.#presence.watch(topic, subscriber);
      this.#relay?.interest(topic);
      return () => {
        unwatch();
        this.#relay?.interest(topic);
      };
    });
  }

  /** Adds `socket` to `topic`; it leaves every topic when it closes. Returns false if it was a member already, is closed, or the hub is. */
  join(socket: RxSocket<unknown>, topic: string): boolean {
    expectSocket(socket);
    expectTopic(topic);
    if (this.#closed !== null || socket.closeInfo !== null) return false;
    let joined = this.#joined.get(socket);
    if (joined?.topics.has(topic)) return false;
    if (joined === undefined) {
      this.#joined.set(socket, (joined = { topics: new Set(), watch: null }));
      // One subscription per socket (not per topic): its close leaves them all.
      joined.watch = socket.close$.subscribe(() => this.leaveAll(socket));
    }
    joined.topics.add(topic);
    let members = this.#members.get(topic);
    if (members === undefined) this.#members.set(topic, (members = new Set()));
    members.add(socket);
    this.#counted(topic, members.size);
    return true;
  }

  /** Removes `socket` from `topic`. Returns false if it was not a member. */
  leave(socket: RxSocket<unknown>, topic: string): boolean {
    expectTopic(topic);
    const joined = this.#joined.get(socket);
    if (joined === undefined || !joined.topics.delete(topic)) return false;
    if (joined.topics.size === 0) this.#forget(socket, joined.watch);
    this.#remove(socket, topic);
    return true;
  }

  /** Removes `socket` from every topic (done for you when it closes). */
  leaveAll(socket: RxSocket<unknown>): void {
    const joined = this.#joined.get(socket);
    if (joined === undefined) return;
    this.#forget(socket, joined.watch);
    for (const topic of joined.topics) this.#remove(socket, topic);
  }

  /**
   * Sends `message` to every member of `topic`, here and, unless `local`, in
   * every process on the adapter: a string as a text frame, binary data as a
   * binary frame, a `PreparedFrame` as it is. Encoded once; never waits for a
   * member. Returns how many local members it was handed to. Throws
   * `HubClosedError` after `close()`, `InvalidFrameError` for a non-frame.
   */
  publish(topic: string, message: Outbound, options?: PublishOptions): number {
    expectTopic(topic);
    const { except, local = false } = expectObject('options', options) as PublishOptions;
    if (except !== undefined) expectSocket(except, 'options.except');
    expectBoolean('options.local', local);
    if (this.#closed !== null) throw new HubClosedError();
    const frame = isPrepared(message) ? (message as PreparedFrame) : prepare(message);
    this.#published++;
    const members = this.#members.get(topic);
    const delivered = members === undefined ? 0 : this.#deliver(members, frame, except);
    if (!local) this.#relay?.publish(topic, frame);
    return delivered;
  }

  /**
   * Leaves every topic (the sockets stay open), tells the other processes,
   * completes `members$`, and closes the adapter once what it queued is sent
   * (within its deadline). Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    this.#relay?.close(); // while it can still see who was here
    for (const [socket, joined] of this.#joined) this.#forget(socket, joined.watch);
    this.#members.clear();
    this.#presence.end();
    return (this.#closed = this.#link.close().finally(() => {
      this.#ended.next();
      this.#ended.complete();
    }));
  }

  #deliver(members: Set<Member>, frame: PreparedFrame, except: Member | undefined): number {
    let n = 0;
    for (const socket of members) {
      // A closing or closed socket would only refuse the frame (an error each); it leaves at its close.
      if (socket === except || socket.state === 'closing' || socket.state === 'closed') continue;
      socket.next(frame);
      n++;
    }
    this.#delivered += n;
    return n;
  }

  #forget(socket: Member, watch: Subscription | null): void {
    this.#joined.delete(socket);
    watch?.unsubscribe();
  }

  #remove(socket: Member, topic: string): void {
    const members = this.#members.get(topic);
    if (members === undefined || !members.delete(socket)) return;
    if (members.size === 0) this.#members.delete(topic);
    this.#counted(topic, members.size);
  }

  /** The local count of `topic` changed. */
  #counted(topic: string, count: number): void {
    this.#presence.setLocal(topic, count);
    this.#relay?.changed(topic);
  }
}

const NONE: ReadonlySet<Member> = new Set();

function expectTopic(topic: unknown): string {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw new InvalidArgumentError(`Expected \`topic\` to be a non-empty string of at most ${MAX_TOPIC_LENGTH} characters, got ${describe(topic)}`);
  }
  return topic;
}

function expectSocket(socket: unknown, name = 'socket'): void {
  if (!(socket instanceof RxSocket)) throw new InvalidArgumentError(`Expected \`${name}\` to be an RxSocket, got ${describe(socket)}`);
}
