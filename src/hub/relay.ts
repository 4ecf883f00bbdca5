import type { SchedulerLike, Subscription } from 'rxjs';
import type { AdapterLink, EnvelopeKind, HubEnvelope } from './adapter';
import type { Presence } from './presence';
import { prepareBytes, type PreparedFrame } from '../socket/prepared';

const EMPTY = Buffer.alloc(0);
/** A process that has not announced its members for this many presence intervals is counted out. */
const PRESENCE_LIVES = 3;
/**
 * How many publishing hubs a hub remembers the last sequence number of. Not
 * forgotten after a time: an outbox resends what the broker did not
 * acknowledge however long the outage lasted, so forgetting a quiet hub would
 * turn its resend into a duplicate. Bounded by count instead: past this, the
 * hub heard from least recently is forgotten. A hub's id lives as long as the
 * hub, so a resend comes twice only if this many other hubs (processes
 * started since) spoke after its sender's last envelope got through. About
 * 1 MB when full.
 */
export const MAX_ORIGINS = 10_000;

/** What the relay needs of its hub. */
export interface RelayHost {
  /** This process's members per topic. */
  readonly members: ReadonlyMap<string, ReadonlySet<unknown>>;
  /** Hands a message from another process to the local members of `topic`. */
  deliver(topic: string, frame: PreparedFrame): void;
  /** A message with its place in the topic's history (this hub's own too): for the local sessions. */
  entry(envelope: HubEnvelope): void;
  /** The adapter receives `topics` (again). */
  subscribed(topics: readonly string[]): void;
}

/**
 * @internal The part of a hub that talks to other processes through a shared
 * adapter: stamps what it sends (origin, sequence number), skips its own
 * echoes and anything already seen (a resend), subscribes the adapter to the
 * topics anyone here cares about, and keeps the member counts in step:
 * announced at the end of a tick when they change, when asked, and every
 * interval; forgotten three intervals after a process last spoke.
 */
export class Relay {
  readonly #id: string;
  readonly #link: AdapterLink;
  readonly #presence: Presence;
  readonly #scheduler: SchedulerLike;
  readonly #interval: number;
  readonly #host: RelayHost;
  readonly #subscribed = new Set<string>();
  /** Topics the adapter said it receives (since it was asked to). */
  readonly #confirmed = new Set<string>();
  /** Each origin's last sequence number, the one heard from least recently first. */
  readonly #lastSeq = new Map<string, number>();
  /** Topics whose local count the other processes have yet to hear. */
  readonly #dirty = new Set<string>();
  readonly #ticker: Subscription;
  #announcing: Subscription | null = null;
  #seq = 0;
  #closed = false;
  /** Messages that came from other processes. */
  received = 0;
  /** Envelopes dropped as already seen. */
  duplicates = 0;

  constructor(id: string, link: AdapterLink, presence: Presence, scheduler: SchedulerLike, interval: number, host: RelayHost) {
    this.#id = id;
    this.#link = link;
    this.#presence = presence;
    this.#scheduler = scheduler;
    this.#interval = interval;
    this.#host = host;
    const relay = this;
    this.#ticker = scheduler.schedule(function () {
      relay.#tick();
      this.schedule(undefined, interval);
    }, interval);
  }

  /** Sends a message to the other processes; `except` names a session it is not for (history only). */
  publish(topic: string, frame: PreparedFrame, except?: string): void {
    this.#send(topic, frame.binary ? 'binary' : 'text', frame.payload, 0, except);
  }

  /** Whether the adapter said it receives `topic`. */
  confirmed(topic: string): boolean {
    return this.#confirmed.has(topic);
  }

  /** The local count of `topic` changed: tell the others at the end of the tick (a thousand joins, one envelope). */
  changed(topic: string): void {
    this.interest(topic);
    this.#dirty.add(topic);
    this.#announcing ??= this.#scheduler.schedule(() => this.#announce());
  }

  /** Subscribes the adapter to `topic` while anyone here cares: local members, or a `members$` watcher. */
  interest(topic: string): void {
    if (this.#closed) return;
    const wanted = this.#host.members.has(topic) || this.#presence.watched(topic);
    if (wanted === this.#subscribed.has(topic)) return;
    if (wanted) {
      this.#subscribed.add(topic);
      this.#link.subscribe(topic);
    } else {
      this.#subscribed.delete(topic);
      this.#confirmed.delete(topic);
      this.#link.unsubscribe(topic);
    }
  }

  /** The adapter receives `topics` (again): ask the other processes who is there. */
  subscribed(topics: readonly string[]): void {
    const wanted = topics.filter((topic) => this.#subscribed.has(topic));
    for (const topic of wanted) {
      this.#confirmed.add(topic);
      this.#send(topic, 'query', EMPTY, this.#count(topic));
    }
    if (wanted.length > 0) this.#host.subscribed(wanted);
  }

  receive(envelope: HubEnvelope): void {
    const { origin, topic } = envelope;
    if (this.#closed) return;
    // Our own messages were delivered here when published; the sessions get them in history order, as they come back.
    if (origin === this.#id) {
      if (envelope.entry !== undefined && this.#host.members.has(topic)) this.#host.entry(envelope);
      return;
    }
    const last = this.#lastSeq.get(origin);
    if (last !== undefined && envelope.seq <= last) {
      this.duplicates++;
      return;
    }
    // Re-inserted, so the Map's first key is always the one heard from least recently.
    if (last !== undefined) this.#lastSeq.delete(origin);
    else if (this.#lastSeq.size >= MAX_ORIGINS) this.#lastSeq.delete(this.#lastSeq.keys().next().value!);
    this.#lastSeq.set(origin, envelope.seq);
    if (envelope.kind === 'text' || envelope.kind === 'binary') {
      this.received++;
      if (!this.#host.members.has(topic)) return;
      this.#host.deliver(topic, prepareBytes(envelope.payload, envelope.kind === 'binary'));
      if (envelope.entry !== undefined) this.#host.entry(envelope);
      return;
    }
    this.#presence.setRemote(topic, origin, envelope.count, this.#scheduler.now());
    if (envelope.kind === 'query' && this.#host.members.has(topic)) this.changed(topic);
  }

  /** Says goodbye (count 0) for every topic with members or an unannounced change, and stops. Call before the hub forgets its members. */
  close(): void {
    const topics = new Set([...this.#host.members.keys(), ...this.#dirty]);
    this.#ticker.unsubscribe();
    this.#announcing?.unsubscribe();
    // Others count us out now rather than three presence intervals from now.
    for (const topic of topics) this.#send(topic, 'presence', EMPTY, 0);
    for (const topic of this.#subscribed) this.#link.unsubscribe(topic);
    this.#subscribed.clear();
    this.#confirmed.clear();
    this.#dirty.clear();
    this.#closed = true;
  }

  #count(topic: string): number {
    return this.#host.members.get(topic)?.size ?? 0;
  }

  #announce(): void {
    this.#announcing = null;
    for (const topic of this.#dirty) this.#send(topic, 'presence', EMPTY, this.#count(topic));
    this.#dirty.clear();
  }

  #tick(): void {
    const now = this.#scheduler.now();
    for (const topic of this.#host.members.keys()) this.#send(topic, 'presence', EMPTY, this.#count(topic));
    this.#presence.expire(now - PRESENCE_LIVES * this.#interval);
  }

  #send(topic: string, kind: EnvelopeKind, payload: Buffer, count: number, except?: string): void {
    this.#link.publish({ origin: this.#id, seq: ++this.#seq, topic, kind, payload, count, ...(except !== undefined && { except }) });
  }
}
