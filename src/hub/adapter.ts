import type { Observable } from 'rxjs';
import { RxjsWsError } from '../errors';

/**
 * What an envelope carries: a text or binary message for a topic's members,
 * or one process's member count for the topic (`query` also asks the other
 * processes for theirs).
 */
export type EnvelopeKind = 'text' | 'binary' | 'presence' | 'query';

/** What travels between the hubs of several processes. */
export interface HubEnvelope {
  /** The sending hub's id (random per hub: 32 hex digits). */
  readonly origin: string;
  /**
   * Increases with every envelope a hub sends, over all topics. A receiver
   * drops an envelope not newer than the last it took from that origin, so
   * a resend after a reconnect is never delivered twice.
   */
  readonly seq: number;
  readonly topic: string;
  readonly kind: EnvelopeKind;
  /** The message (`text`, `binary`); empty for presence. */
  readonly payload: Buffer;
  /** The sender's local member count (`presence`, `query`); 0 for messages. */
  readonly count: number;
  /**
   * A message's place in its topic's history, set by an adapter that keeps
   * one on what it delivers (the Redis adapter's `history`): absent otherwise.
   */
  readonly entry?: HistoryPosition;
  /** With history: the session (its tag) that this message is not for, from `publish()`'s `except`. */
  readonly except?: string;
}

/**
 * Where a message stands in its topic's history: the stream entry's id
 * (`<ms>-<seq>`, increasing) and its number in the topic (1, 2, 3…, with no
 * hole: a hole is a message missed).
 */
export interface HistoryPosition {
  readonly id: string;
  readonly n: number;
}

/** What {@link HistoryLink.read} found. */
export interface HistoryPage {
  /** Messages after the position asked for, oldest first (each with its `entry`); empty when asked for none. */
  readonly entries: readonly HubEnvelope[];
  /** The topic's newest message when it was read (`{ id: '0-0', n: 0 }` if it never had one). */
  readonly head: HistoryPosition;
}

/** A session's handed-over frame, not yet confirmed when its positions were stored: `mark` is its number among the session's frames. */
export interface PendingPosition {
  readonly mark: number;
  readonly topic: string;
  readonly position: HistoryPosition;
}

/** The positions stored for a session's lineage. */
export interface StoredPositions {
  /** The session id that stored them last (`null` for none). */
  readonly owner: string | null;
  /** Each topic's last message the client confirmed. */
  readonly topics: ReadonlyMap<string, HistoryPosition>;
  /** Messages handed over and not confirmed yet when the positions were stored (at a hub's close). */
  readonly pending: readonly PendingPosition[];
}

/** What a hub changes of a session's stored positions. */
export interface PositionChanges {
  readonly set: ReadonlyMap<string, HistoryPosition>;
  readonly remove: readonly string[];
  /** Replaces the pending list (`[]` removes it); `undefined` leaves it. */
  readonly pending?: readonly PendingPosition[];
}

/**
 * Topic history and session positions, kept by an adapter that has them
 * (the Redis adapter's `history`). Keys are a digest of a session's lineage.
 */
export interface HistoryLink {
  /** Messages of `topic` after `after` (at most `count`, oldest first) and the topic's head; `after: null` reads the head only. Rejects while the broker is unreachable. */
  read(topic: string, after: HistoryPosition | null, count: number): Promise<HistoryPage>;
  /** Takes the positions of `key` over for `owner` (its writes win from now on, the pending list goes) and returns them; `null` if none are stored. */
  claim(key: string, owner: string, ttl: number): Promise<StoredPositions | null>;
  /**
   * Applies `changes` if `owner` owns `key` or nobody does; resolves false if
   * another session claimed it. The positions expire `ttl` ms from now if
   * `renew`, else keep their expiry (`ttl` if they had none).
   */
  store(key: string, owner: string, changes: PositionChanges, ttl: number, renew: boolean): Promise<boolean>;
  /** The session ended: its positions go (a marker stays for `ttl`, so that a late write of an older session does not bring them back). */
  release(key: string, owner: string, ttl: number): Promise<void>;
}

/**
 * How an adapter's connection is doing. `connected` carries the reconnect
 * attempts it took (0 the first time); `reconnecting` the attempt under way,
 * its delay and the last error; `disconnected` is final (closed, or retries
 * exhausted).
 */
export type HubStatus =
  | { readonly state: 'connecting' }
  | { readonly state: 'connected'; readonly attempts: number }
  | { readonly state: 'reconnecting'; readonly attempt: number; readonly delay: number; readonly error: Error | null }
  | { readonly state: 'disconnected'; readonly error: Error | null };

/** Counters of an adapter's traffic with other processes. */
export interface AdapterStats {
  /** Envelopes the broker acknowledged. */
  readonly published: number;
  /** Envelopes that came from the broker (this hub's own echoes included). */
  readonly received: number;
  /** Envelopes waiting for the broker: while it is unreachable, or not yet acknowledged. */
  readonly queued: number;
  /**
   * Envelopes given up: the queue was full (the broker unreachable or not
   * answering), the broker refused them (also in `refused`), or they still
   * waited at `close()`. Other processes never got them.
   */
  readonly dropped: number;
  /** Envelopes the broker answered with an error and that were given up (after retries, if the error was transient). */
  readonly refused: number;
  /**
   * How long the oldest envelope still waiting for the broker has waited, in
   * ms (0 when none waits): a broker that lags, stalls or cannot be reached
   * shows here first. Adapters that do not know leave it out.
   */
  readonly lag?: number;
}

/**
 * The broker refused a publish (given up, counted in `stats.adapter.dropped`)
 * or a topic's subscription (its messages do not arrive here until the next
 * reconnect subscribes it again). Reported on `hub.errors$`; `cause` is the
 * broker's answer, e.g. Redis's `NOPERM ...`.
 */
export class AdapterRefusedError extends RxjsWsError {
  readonly code = 'RXJS_WS_ADAPTER_REFUSED';
  constructor(
    readonly operation: 'publish' | 'subscribe',
    readonly topic: string,
    options?: { cause?: unknown },
  ) {
    const why = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(`The broker refused to ${operation} to topic ${JSON.stringify(topic)}${why}`, options);
  }
}

/**
 * The adapter's queue for the broker overflowed: the broker cannot be
 * reached, or is reached but does not answer (stalled, overloaded), and
 * publishes kept coming. To stay within its bounds the adapter drops the
 * oldest envelopes that have not gone out yet; other processes never get
 * them, local members already had them. Reported on `hub.errors$` once per
 * backlog: when the first envelope is dropped since the queue was last
 * empty. `dropped` is the adapter's total so far; `stats.adapter.dropped`
 * keeps counting.
 */
export class AdapterOverflowError extends RxjsWsError {
  readonly code = 'RXJS_WS_ADAPTER_OVERFLOW';
  constructor(
    readonly dropped: number,
    readonly limits: { readonly maxMessages: number; readonly maxBytes: number },
  ) {
    super(
      `The queue for the broker is full (${limits.maxMessages} messages or ${limits.maxBytes} bytes): the oldest are dropped (${dropped} so far; see stats.adapter.dropped)`,
    );
  }
}

/** What the hub gives its adapter. */
export interface AdapterHost {
  /** An envelope from a subscribed topic, the hub's own included (the hub skips those). */
  receive(envelope: HubEnvelope): void;
  /** The adapter is (again) subscribed to `topics`: from now on their envelopes arrive. */
  subscribed(topics: readonly string[]): void;
}

/** One hub's connection to the other processes, made by {@link HubAdapter.open}. */
export interface AdapterLink {
  /** Other processes can be reached. When false the hub never builds envelopes. */
  readonly shared: boolean;
  /** The current status first, then each change; completes after `close()`. */
  readonly status$: Observable<HubStatus>;
  /** What the broker refused ({@link AdapterRefusedError}) and when the queue overflowed ({@link AdapterOverflowError}); completes after `close()`. @default none */
  readonly errors$?: Observable<RxjsWsError>;
  /** Topic history and session positions, if the adapter keeps them: messages then reach sessions in history order. @default none */
  readonly history?: HistoryLink;
  readonly stats: AdapterStats;
  /** Starts receiving `topic`'s envelopes (the first local interest). */
  subscribe(topic: string): void;
  /** Stops receiving `topic`'s envelopes (the last local interest is gone). */
  unsubscribe(topic: string): void;
  /**
   * Sends an envelope to every process subscribed to its topic. Never throws,
   * never waits. An adapter may send an envelope again (after a reconnect),
   * but never after a newer one of the same hub reached the broker: receivers
   * drop what is not newer than the last they took.
   */
  publish(envelope: HubEnvelope): void;
  /** Sends what is queued (within the adapter's deadline) and disconnects. */
  close(): Promise<void>;
}

/**
 * Carries a hub's messages to the hubs of other processes: `memoryAdapter()`
 * (this process only, the default) or `redisAdapter()`. `open` is called
 * once per hub.
 */
export interface HubAdapter {
  /** Called once by the hub it is given to: connects, and returns the link the hub publishes through. */
  open(host: AdapterHost): AdapterLink;
}
