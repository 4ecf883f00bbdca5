import { createHash } from 'node:crypto';
import type { SchedulerLike, Subscription } from 'rxjs';
import { RxjsWsError } from '../errors';
import type { RxSession } from '../resume/session';
import { Fifo } from '../socket/fifo';
import { prepareBytes, type PreparedFrame } from '../socket/prepared';
import type { HistoryLink, HistoryPage, HistoryPosition, HubEnvelope, PendingPosition, StoredPositions } from './adapter';

type Session = RxSession<unknown>;

/** Messages read from a topic's history at a time. */
export const PAGE = 500;
/** Live messages held for a session while its history is read; past it they are read from the history too. */
export const MAX_BUFFER = 10_000;
/** How long a hub's close waits for the adapter to store the positions (a Redis that does not answer never does). */
export const CLOSE_WAIT = 2000;
/** Pending positions stored for a session, at most (the oldest: beyond them a move may repeat messages, never lose one). */
export const MAX_PENDING = 1000;

/**
 * A session missed messages of a topic: its history no longer reached back
 * to where the session left off (trimmed by `maxLen` or `maxAge`, or the
 * topic's history was deleted). The session got what remained, in order.
 * Reported on `hub.errors$`; `missed` is how many, `null` when that cannot
 * be known (the history was deleted and began again).
 */
export class HistoryGapError extends RxjsWsError {
  readonly code = 'RXJS_WS_HISTORY_GAP';
  constructor(
    /** The session that missed them. */
    readonly session: RxSession<unknown>,
    readonly topic: string,
    readonly missed: number | null,
  ) {
    super(
      `${missed === null ? 'An unknown number of' : missed} message(s) of topic ${JSON.stringify(topic)} were missed: ` +
        'its history no longer reached back to where the session left off',
    );
  }
}

/** What the history needs of its hub. */
export interface HistoryHost {
  readonly scheduler: SchedulerLike;
  /** How often confirmed positions are stored, in ms. */
  readonly interval: number;
  /** Whether the adapter receives `topic` now (a read before that could miss what comes between). */
  subscribed(topic: string): boolean;
  /** A gap, for `hub.errors$`. */
  report(error: RxjsWsError): void;
  /** `count` frames were handed to sessions. */
  delivered(count: number): void;
}

/** One session in one topic: where it is in the topic's history. */
class Tail {
  /** The last message handed to the session (or skipped for it); `null` until its first read. */
  cursor: HistoryPosition | null = null;
  /** `idle`: waits (for its session's stored positions, the subscription, or a retry); `reading` the history; `live`. */
  state: 'idle' | 'reading' | 'live' = 'idle';
  begun = false;
  /** Live messages that came while it was not live, in order. */
  buffer: HubEnvelope[] = [];
  /** Read again once the read under way is done (the subscription came back, or the buffer overflowed). */
  again = false;
  retry: Subscription | null = null;
  failures = 0;
  gone = false;
  constructor(
    readonly track: Track,
    readonly topic: string,
  ) {}
}

interface Pending {
  readonly mark: number;
  readonly tail: Tail;
  readonly position: HistoryPosition;
}

/** One session: its topics, and its positions on their way to the adapter. */
class Track {
  readonly tails = new Map<string, Tail>();
  /** Positions handed over, in order, with the number of the session's frame that carried them. */
  readonly pending = new Fifo<Pending>();
  /** The last confirmed position of each topic. */
  readonly confirmed = new Map<string, HistoryPosition>();
  /** Topics whose confirmed position the adapter has yet to store; topics left, to remove. */
  readonly dirty = new Set<string>();
  readonly removed = new Set<string>();
  /** The positions stored for the session's lineage (its predecessor's), once claimed. */
  start: ReadonlyMap<string, HistoryPosition> | null = null;
  claimed: Promise<void> | null = null;
  storing = false;
  lastStored = -Infinity;
  /** The pending list as last stored (its first and last mark and its length), to store it again only when it changed. */
  storedPending = '';
  /** Another session of the lineage claimed the positions: this one stores nothing more. */
  disowned = false;
  ended = false;
  constructor(
    readonly session: Session,
    readonly key: string,
  ) {}
}

/**
 * @internal The sessions of a hub whose adapter keeps history: each gets a
 * topic's messages in history order, from where its lineage left off (read
 * from the history, then live, a live message already read dropped by its
 * entry id), and the positions its client confirmed are stored in batches.
 */
export class History {
  readonly #link: HistoryLink;
  readonly #host: HistoryHost;
  readonly #tracks = new Map<Session, Track>();
  readonly #topics = new Map<string, Map<Session, Tail>>();
  readonly #reads = new Map<string, Promise<HistoryPage>>();
  readonly #frames = new WeakMap<HubEnvelope, PreparedFrame>();
  readonly #ticker: Subscription;
  #closed = false;

  constructor(link: HistoryLink, host: HistoryHost) {
    this.#link = link;
    this.#host = host;
    const history = this;
    this.#ticker = host.scheduler.schedule(function () {
      history.flush(false);
      this.schedule(undefined, host.interval);
    }, host.interval);
  }

  /** The tag of `session` in envelopes (`except`) and the key of its positions: a digest of its lineage. */
  static tag(session: Session): string {
    return createHash('sha256').update(session.lineage).digest('base64url').slice(0, 22);
  }

  /** `session` joined `topic`. */
  join(session: Session, topic: string): void {
    const track = this.#tracks.get(session) ?? this.#track(session);
    const tail = new Tail(track, topic);
    track.tails.set(topic, tail);
    track.removed.delete(topic);
    let tails = this.#topics.get(topic);
    if (tails === undefined) this.#topics.set(topic, (tails = new Map()));
    tails.set(session, tail);
    this.#start(tail);
  }

  /** `session` left `topic`: its position there goes too. */
  leave(session: Session, topic: string): void {
    const track = this.#tracks.get(session);
    const tail = track?.tails.get(topic);
    if (track === undefined) return;
    if (tail !== undefined) this.#drop(tail);
    track.confirmed.delete(topic);
    track.dirty.delete(topic);
    track.removed.add(topic);
  }

  /** The session ended: its positions are released; `handedOff`, they are stored for the client's next session instead. */
  end(session: Session, handedOff = false): void {
    const track = this.#tracks.get(session);
    if (track === undefined) return;
    if (handedOff) void this.#store(track, true, this.#host.scheduler.now());
    track.ended = true;
    for (const tail of track.tails.values()) this.#drop(tail);
    this.#tracks.delete(session);
    if (!track.disowned && !handedOff) this.#link.release(track.key, session.id, this.#expiry(session)).catch(ignore);
  }

  /** Forgets a session in no topic here, keeping what is stored for it. */
  forget(session: Session): void {
    const track = this.#tracks.get(session);
    if (track !== undefined && track.tails.size === 0) this.#tracks.delete(session);
  }

  /** The topics stored for the session's lineage, once read. */
  async stored(session: Session): Promise<string[]> {
    const track = this.#tracks.get(session) ?? this.#track(session);
    await track.claimed;
    return [...(track.start?.keys() ?? [])];
  }

  /** A live message with its place in the history. */
  receive(envelope: HubEnvelope): void {
    const tails = this.#topics.get(envelope.topic);
    if (tails === undefined) return;
    for (const tail of tails.values()) this.#offer(tail, envelope);
  }

  /** The adapter receives `topics` (again): read what came meanwhile. */
  subscribed(topics: readonly string[]): void {
    for (const topic of topics) {
      const tails = this.#topics.get(topic);
      if (tails === undefined) continue;
      for (const tail of tails.values()) {
        if (tail.state === 'reading') tail.again = true;
        else if (tail.state === 'live') void this.#read(tail);
        else {
          tail.retry?.unsubscribe();
          tail.retry = null;
          this.#start(tail);
        }
      }
    }
  }

  /**
   * Stores what the clients confirmed (the topics whose position moved),
   * what was handed over and not confirmed yet (a session begun elsewhere
   * for the same client learns from the client which of those it took), and
   * renews the expiry of a session whose client is connected. `final` (the
   * hub closes) stores every session; resolves once the adapter answered.
   */
  flush(final: boolean): Promise<unknown> {
    const now = this.#host.scheduler.now();
    const writes: Promise<unknown>[] = [];
    for (const track of this.#tracks.values()) {
      const write = this.#store(track, final, now);
      if (write !== null) writes.push(write);
    }
    return Promise.all(writes);
  }

  /** Stores one session's positions if anything changed (or `final`); null if there was nothing to store. */
  #store(track: Track, final: boolean, now: number): Promise<unknown> | null {
    if (track.disowned || track.start === null || (track.storing && !final)) return null;
    const session = track.session;
    this.#settle(track);
    const renew = session.state === 'open' && now - track.lastStored >= this.#renewal(session);
    const pending = this.#pendingOf(track);
    const signature = pending.length === 0 ? '' : `${pending[0]!.mark} ${pending.at(-1)!.mark} ${pending.length}`;
    const pendingChanged = signature !== track.storedPending;
    if (!final && track.dirty.size === 0 && track.removed.size === 0 && !renew && !pendingChanged) return null;
    const set = new Map<string, HistoryPosition>();
    for (const topic of track.dirty) set.set(topic, track.confirmed.get(topic)!);
    const remove = [...track.removed];
    track.dirty.clear();
    track.removed.clear();
    track.storing = true;
    track.storedPending = signature;
    const changes = { set, remove, ...(pendingChanged && { pending }) };
    return this.#link.store(track.key, session.id, changes, this.#expiry(session), renew || final).then(
      (stored) => {
        track.storing = false;
        track.lastStored = now;
        if (!stored) track.disowned = true;
      },
      () => {
        // Again next time: what is not newer by then.
        track.storing = false;
        track.storedPending = 'unknown';
        for (const topic of set.keys()) if (track.confirmed.has(topic)) track.dirty.add(topic);
        for (const topic of remove) if (!track.tails.has(topic)) track.removed.add(topic);
      },
    );
  }

  /** Stores every session's positions (and what is not confirmed yet), waiting `CLOSE_WAIT` ms at most, and stops. */
  close(): Promise<unknown> {
    if (this.#closed) return Promise.resolve();
    let timer: Subscription | undefined;
    const late = new Promise<void>((resolve) => (timer = this.#host.scheduler.schedule(() => resolve(), CLOSE_WAIT)));
    const stored = Promise.race([this.flush(true), late]).finally(() => timer?.unsubscribe());
    this.#closed = true;
    this.#ticker.unsubscribe();
    for (const track of this.#tracks.values()) for (const tail of track.tails.values()) this.#drop(tail);
    this.#tracks.clear();
    return stored;
  }

  #track(session: Session): Track {
    const track = new Track(session, History.tag(session));
    this.#tracks.set(session, track);
    if (session.predecessor === null) track.start = new Map();
    else track.claimed = this.#claim(track);
    return track;
  }

  /** Takes the lineage's stored positions over, trying again while the adapter cannot be reached. */
  async #claim(track: Track): Promise<void> {
    const session = track.session;
    let stored: StoredPositions | null = null;
    for (let failures = 0; ; failures++) {
      try {
        stored = await this.#link.claim(track.key, session.id, this.#expiry(session));
        break;
      } catch {
        await this.#wait(failures);
        if (track.ended || this.#closed) return;
      }
    }
    const start = new Map(stored?.topics ?? []);
    const predecessor = session.predecessor!;
    // Handed over to the predecessor and not confirmed when its positions were stored: the client's count says which it took.
    if (stored !== null && stored.owner === predecessor.id) {
      for (const { mark, topic, position } of stored.pending) if (mark <= predecessor.received) start.set(topic, position);
    }
    for (const [topic, position] of start) {
      track.confirmed.set(topic, position);
      track.dirty.add(topic);
    }
    track.start = start;
    if (track.ended || this.#closed) return;
    for (const tail of track.tails.values()) this.#start(tail);
  }

  /** Reads where the tail starts, once its session's positions are known and the adapter receives the topic. */
  #start(tail: Tail): void {
    const track = tail.track;
    if (tail.gone || tail.state !== 'idle' || track.start === null || !this.#host.subscribed(tail.topic)) return;
    if (!tail.begun) {
      tail.begun = true;
      tail.cursor = track.start.get(tail.topic) ?? null;
    }
    void this.#read(tail);
  }

  /** Reads the history from the tail's cursor to its head, then what came live meanwhile; goes live if nothing is missing. */
  async #read(tail: Tail): Promise<void> {
    tail.state = 'reading';
    tail.again = false;
    /** Where the last read left the tail, if what was held then showed a hole: a read that gets no further hands it over as it is. */
    let stuck: HistoryPosition | null = null;
    for (;;) {
      let page: HistoryPage;
      try {
        page = await this.#fetch(tail.topic, tail.cursor, tail.cursor === null ? 0 : PAGE);
      } catch {
        if (!tail.gone) this.#retry(tail);
        return;
      }
      if (tail.gone) return;
      tail.failures = 0;
      if (tail.cursor === null) this.#hand(tail, page.head, null);
      else {
        for (const envelope of page.entries) {
          this.#take(tail, envelope);
          if (tail.gone) return;
        }
        if (page.entries.length === PAGE) continue;
        this.#reach(tail, page.head);
      }
      if (tail.again) {
        tail.again = false;
        continue;
      }
      if (this.#drain(tail, stuck === tail.cursor)) {
        tail.state = 'live';
        return;
      }
      stuck = tail.cursor;
    }
  }

  /** One read per topic and position at a time, shared by the sessions at the same place. */
  #fetch(topic: string, after: HistoryPosition | null, count: number): Promise<HistoryPage> {
    const key = `${after?.id ?? ''} ${count} ${topic}`;
    let read = this.#reads.get(key);
    if (read === undefined) {
      read = this.#link.read(topic, after, count);
      this.#reads.set(key, read);
      const done = () => void this.#reads.delete(key);
      read.then(done, done);
    }
    return read;
  }

  #retry(tail: Tail): void {
    tail.state = 'idle';
    tail.retry = this.#host.scheduler.schedule(() => {
      tail.retry = null;
      this.#start(tail);
    }, backoff(tail.failures++));
  }

  #wait(failures: number): Promise<void> {
    return new Promise((resolve) => this.#host.scheduler.schedule(() => resolve(), backoff(failures)));
  }

  /** A live message: handed over if it is the next, held while the tail reads, and a read if one is missing before it. */
  #offer(tail: Tail, envelope: HubEnvelope): void {
    if (tail.state !== 'live') {
      if (tail.buffer.length < MAX_BUFFER) tail.buffer.push(envelope);
      else {
        // Read from the history instead, once the read under way is done.
        tail.buffer = [];
        tail.again = true;
      }
      return;
    }
    const entry = envelope.entry!;
    const cursor = tail.cursor!;
    if (!after(entry.id, cursor.id)) return;
    if (entry.n === cursor.n + 1) return this.#hand(tail, entry, envelope);
    // One came that is not the next: those between are in the history, or lost there too (a gap).
    tail.buffer.push(envelope);
    void this.#read(tail);
  }

  /** A message read from the history: handed over unless the tail had it; a gap before it is reported. */
  #take(tail: Tail, envelope: HubEnvelope): void {
    const entry = envelope.entry!;
    const cursor = tail.cursor!;
    if (!after(entry.id, cursor.id)) return;
    if (entry.n !== cursor.n + 1) this.#gap(tail, entry.n > cursor.n ? entry.n - cursor.n - 1 : null);
    this.#hand(tail, entry, envelope);
  }

  /** After the last page: messages counted in the topic beyond what was read are gone from the history. */
  #reach(tail: Tail, head: HistoryPosition): void {
    const cursor = tail.cursor!;
    if (head.n === cursor.n) return;
    this.#gap(tail, head.n > cursor.n ? head.n - cursor.n : null);
    this.#hand(tail, { id: after(head.id, cursor.id) ? head.id : cursor.id, n: head.n }, null);
  }

  /**
   * Hands over what was held while reading, as long as each is the next;
   * false at a hole (read again). `force` (the history had nothing more):
   * a hole is a gap.
   */
  #drain(tail: Tail, force: boolean): boolean {
    const buffer = tail.buffer;
    let i = 0;
    for (; i < buffer.length && !tail.gone; i++) {
      const entry = buffer[i]!.entry!;
      const cursor = tail.cursor!;
      if (!after(entry.id, cursor.id)) continue;
      if (entry.n !== cursor.n + 1 && !force) break;
      this.#take(tail, buffer[i]!);
    }
    tail.buffer = i === buffer.length ? [] : buffer.slice(i);
    return i === buffer.length || tail.gone;
  }

  /** Moves the tail to `position`, giving its session the message (unless it is the one it was not for, or none). */
  #hand(tail: Tail, position: HistoryPosition, envelope: HubEnvelope | null): void {
    const track = tail.track;
    const session = track.session;
    tail.cursor = position;
    if (envelope !== null && envelope.except !== track.key && session.state !== 'closing' && session.state !== 'closed') {
      session.next(this.#frame(envelope));
      this.#host.delivered(1);
    }
    track.pending.push({ mark: session.progress.accepted, tail, position });
  }

  #frame(envelope: HubEnvelope): PreparedFrame {
    let frame = this.#frames.get(envelope);
    if (frame === undefined) this.#frames.set(envelope, (frame = prepareBytes(envelope.payload, envelope.kind === 'binary')));
    return frame;
  }

  #gap(tail: Tail, missed: number | null): void {
    this.#host.report(new HistoryGapError(tail.track.session, tail.topic, missed));
  }

  /** Moves the positions the client confirmed to `confirmed`. */
  #settle(track: Track): void {
    const { acknowledged } = track.session.progress;
    const pending = track.pending;
    while (pending.length > 0 && pending.at(0).mark <= acknowledged) {
      const { tail, position } = pending.shift();
      if (tail.gone) continue;
      track.confirmed.set(tail.topic, position);
      track.dirty.add(tail.topic);
    }
  }

  #pendingOf(track: Track): PendingPosition[] {
    const list: PendingPosition[] = [];
    for (let i = 0; i < track.pending.length && list.length < MAX_PENDING; i++) {
      const { mark, tail, position } = track.pending.at(i);
      if (!tail.gone) list.push({ mark, topic: tail.topic, position });
    }
    return list;
  }

  #drop(tail: Tail): void {
    tail.gone = true;
    tail.retry?.unsubscribe();
    tail.retry = null;
    tail.buffer = [];
    const track = tail.track;
    if (track.tails.get(tail.topic) === tail) track.tails.delete(tail.topic);
    const tails = this.#topics.get(tail.topic);
    if (tails?.get(track.session) === tail) {
      tails.delete(track.session);
      if (tails.size === 0) this.#topics.delete(tail.topic);
    }
  }

  /** How often a connected session's positions are stored again, to renew their expiry. */
  #renewal(session: Session): number {
    return Math.max(this.#host.interval, Math.ceil(session.ttl / 4));
  }

  /** How long stored positions outlive their last renewal: the session's ttl, plus the time to the next renewal. */
  #expiry(session: Session): number {
    return session.ttl + this.#renewal(session) + this.#host.interval;
  }
}

/** Whether entry id `a` (`<ms>-<seq>`) comes after `b`. */
export function after(a: string, b: string): boolean {
  const [am, as] = split(a);
  const [bm, bs] = split(b);
  return am > bm || (am === bm && as > bs);
}

function split(id: string): [number, number] {
  const dash = id.indexOf('-');
  return dash < 0 ? [Number(id), 0] : [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

function backoff(failures: number): number {
  return Math.min(100 * 2 ** failures, 5000);
}

function ignore(): void {}
