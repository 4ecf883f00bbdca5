import { randomBytes } from 'node:crypto';
import { asyncScheduler, ignoreElements, merge, Observable, Subject, type SchedulerLike, type Subscription } from 'rxjs';
import { describe, InvalidArgumentError, RxjsWsError } from '../errors';
import type { AdapterLink, AdapterStats, HubAdapter, HubStatus } from './adapter';
import { History } from './history';
import { memoryAdapter } from './memory';
import { Presence } from './presence';
import { Relay } from './relay';
import { snapshots } from '../operators/snapshots';
import { isPrepared } from '../socket/frames';
import { prepare, type PreparedFrame } from '../socket/prepared';
import { RxSession } from '../resume/session';
import { RxSocket } from '../socket/socket';
import type { Outbound } from '../socket/types';
import { expectBoolean, expectFunction, expectInteger, expectObject, expectScheduler } from '../validation';

export { AdapterOverflowError, AdapterRefusedError } from './adapter';
export { HistoryGapError } from './history';

/** What joins a hub's topics: a socket, or a resumable session (`server.sessions$`). */
export type HubMember = RxSocket<unknown> | RxSession<unknown>;
type Member = HubMember;

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
  /**
   * With an adapter that keeps history (`redisAdapter({ history })`), how
   * often the positions that sessions' clients confirmed are stored, in ms:
   * a process that dies may have handed over messages in the last interval
   * that the sessions' clients then get again elsewhere.
   * @default 1000
   */
  readonly positionsInterval?: number;
  /** Time source of presence announcements and expiry, and of storing positions. @default asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** Options of {@link Hub.publish}. */
export interface PublishOptions {
  /**
   * A local member not to deliver to, typically the sender's own socket or
   * session. With history, a session is skipped in every process, also when
   * the message is read from the history after a move. @default none: every member gets it
   */
  readonly except?: HubMember;
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
  /** Sessions' places in the topics' history; null when the adapter keeps none. */
  readonly #history: History | null = null;
  /** What went wrong here (history gaps), beside the adapter's errors. */
  readonly #errors = new Subject<RxjsWsError>();
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
    const positionsInterval = o.positionsInterval === undefined ? 1000 : expectInteger('positionsInterval', o.positionsInterval, 1);
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
        deliver: (topic, frame) => this.#deliver(this.#members.get(topic)!, frame, undefined, false),
        entry: (envelope) => this.#history?.receive(envelope),
        subscribed: (topics) => this.#history?.subscribed(topics),
      });
    }
    const history = this.#link.history;
    if (history !== undefined && this.#relay !== null) {
      const relay = this.#relay;
      this.#history = new History(history, {
        scheduler,
        interval: positionsInterval,
        subscribed: (topic) => relay.confirmed(topic),
        report: (error) => this.#errors.next(error),
        delivered: (count) => (this.#delivered += count),
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
   * With history, a session that missed messages because the history no
   * longer reached back to where it left off: a `HistoryGapError`.
   * Completes after `close()`.
   */
  get errors$(): Observable<RxjsWsError> {
    return merge(this.#link.errors$ ?? this.#link.status$.pipe(ignoreElements()), this.#errors);
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
  members(topic: string): ReadonlySet<HubMember> {
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

  /**
   * Adds `member` to `topic`: a socket, or a resumable session (`server.sessions$`).
   * It leaves every topic when it closes (a session when it ends, not when
   * one of its connections drops). Returns false if it was a member already,
   * is closed, or the hub is.
   *
   * With an adapter that keeps history, a session gets the topic's messages
   * in history order, from where its lineage left off: a session begun for a
   * client that comes back from another process (or from before a restart)
   * first gets what was published while it was away, then what comes live,
   * each once and in order. Otherwise it starts with what is published from
   * now on.
   */
  join(member: HubMember, topic: string): boolean {
    expectMember(member);
    expectTopic(topic);
    if (this.#closed !== null || member.closeInfo !== null) return false;
    let joined = this.#joined.get(member);
    if (joined?.topics.has(topic)) return false;
    if (joined === undefined) {
      this.#joined.set(member, (joined = { topics: new Set(), watch: null }));
      // One subscription per member (not per topic): its close leaves them all.
      joined.watch = member.close$.subscribe(() => this.#closedMember(member));
    }
    joined.topics.add(topic);
    let members = this.#members.get(topic);
    if (members === undefined) this.#members.set(topic, (members = new Set()));
    members.add(member);
    this.#counted(topic, members.size);
    if (this.#history !== null && member instanceof RxSession) this.#history.join(member, topic);
    return true;
  }

  /**
   * Joins `session` to the topics its lineage was in when it was last
   * stored (in another process, or in this one before a restart), each from
   * where it left off (see {@link join}). Resolves with the topics it is in
   * now; `[]` without history or for a session begun afresh.
   */
  async resume(session: RxSession<unknown>): Promise<string[]> {
    if (!(session instanceof RxSession)) throw new InvalidArgumentError(`Expected \`session\` to be an RxSession, got ${describe(session)}`);
    const history = this.#history;
    if (history === null || this.#closed !== null || session.predecessor === null) return [];
    const topics = await history.stored(session);
    const now = topics.filter((topic) => this.join(session, topic) || this.#joined.get(session)?.topics.has(topic) === true);
    if (!this.#joined.has(session)) history.forget(session);
    return now;
  }

  /** Removes `member` from `topic`. Returns false if it was not a member. */
  leave(member: HubMember, topic: string): boolean {
    expectTopic(topic);
    const joined = this.#joined.get(member);
    if (joined === undefined || !joined.topics.delete(topic)) return false;
    if (joined.topics.size === 0) this.#forget(member, joined.watch);
    this.#remove(member, topic);
    if (this.#history !== null && member instanceof RxSession) {
      this.#history.leave(member, topic);
      // In no topic here, the hub no longer watches it end: what it kept of the session goes now.
      if (joined.topics.size === 0) this.#history.end(member);
    }
    return true;
  }

  /** Removes `member` from every topic (done for you when it closes). */
  leaveAll(member: HubMember): void {
    const joined = this.#joined.get(member);
    if (joined === undefined) return;
    for (const topic of [...joined.topics]) this.leave(member, topic);
  }

  /**
   * Sends `message` to every member of `topic`, here and, unless `local`, in
   * every process on the adapter: a string as a text frame, binary data as a
   * binary frame, a `PreparedFrame` as it is. Encoded once; never waits for a
   * member. Returns how many local members it was handed to now: with
   * history, sessions get it when it comes back from the adapter with its
   * place in the history (at once with `local`, which keeps it out). Throws
   * `HubClosedError` after `close()`, `InvalidFrameError` for a non-frame.
   */
  publish(topic: string, message: Outbound, options?: PublishOptions): number {
    expectTopic(topic);
    const { except, local = false } = expectObject('options', options) as PublishOptions;
    if (except !== undefined) expectMember(except, 'options.except');
    expectBoolean('options.local', local);
    if (this.#closed !== null) throw new HubClosedError();
    const frame = isPrepared(message) ? (message as PreparedFrame) : prepare(message);
    this.#published++;
    const members = this.#members.get(topic);
    // With history, sessions get what goes through the adapter as it comes back, in history order.
    const delivered = members === undefined ? 0 : this.#deliver(members, frame, except, local);
    if (!local) this.#relay?.publish(topic, frame, this.#history !== null && except instanceof RxSession ? History.tag(except) : undefined);
    return delivered;
  }

  /**
   * Leaves every topic (the sockets and sessions stay open), tells the other
   * processes, stores where each session is in its topics' history (with
   * history: what its client confirmed and what it was handed, waiting 2 s
   * at most), completes `members$`, and closes the adapter once what it
   * queued is sent (within its deadline). Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    this.#relay?.close(); // while it can still see who was here
    // What the sessions' clients confirmed, and what they were handed and have not confirmed yet, while it is known.
    const stored = this.#history?.close() ?? Promise.resolve();
    for (const [member, joined] of this.#joined) this.#forget(member, joined.watch);
    this.#members.clear();
    this.#presence.end();
    return (this.#closed = stored.then(() => this.#link.close()).finally(() => {
      this.#errors.complete();
      this.#ended.next();
      this.#ended.complete();
    }));
  }

  /** Hands `frame` to `members` but `except`, and but the sessions that get it through the history (unless `sessions`). */
  #deliver(members: Set<Member>, frame: PreparedFrame, except: Member | undefined, sessions: boolean): number {
    const skipSessions = this.#history !== null && !sessions;
    let n = 0;
    for (const member of members) {
      // A closing or closed member would only refuse the frame (an error each); it leaves at its close.
      if (member === except || member.state === 'closing' || member.state === 'closed') continue;
      if (skipSessions && member instanceof RxSession) continue;
      member.next(frame);
      n++;
    }
    this.#delivered += n;
    return n;
  }

  /** `member` closed: it leaves every topic (a session's stored positions go with it). */
  #closedMember(member: Member): void {
    const joined = this.#joined.get(member);
    if (joined === undefined) return;
    // A session handed off is not over: its client takes it, and its topics, to another process.
    if (this.#history !== null && member instanceof RxSession) this.#history.end(member, member.handedOff);
    this.#forget(member, joined.watch);
    for (const topic of joined.topics) this.#remove(member, topic);
  }

  #forget(member: Member, watch: Subscription | null): void {
    this.#joined.delete(member);
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

function expectMember(member: unknown, name = 'socket'): void {
  if (!(member instanceof RxSocket) && !(member instanceof RxSession)) {
    throw new InvalidArgumentError(`Expected \`${name}\` to be an RxSocket or an RxSession, got ${describe(member)}`);
  }
}
