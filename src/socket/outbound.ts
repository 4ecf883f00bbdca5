import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { OutboundPolicy, RxwsError } from '../errors';
import { PreparedFrame } from './prepared';
import { FrameQueue } from './queue';
import type { Outbound } from './types';
import { expectBoolean, expectInteger, expectObject, expectOneOf } from '../validation';

/** Outbound flow control for one socket. */
export interface OutboundOptions {
  /**
   * What to do with a frame that does not fit in the queue:
   * - `buffer`: refuse it with `BackpressureError`; and while anything is
   *   queued, stop reading from the peer, so request/response traffic (an
   *   echo) slows the peer through TCP instead of queueing.
   * - `error`: refuse it with `BackpressureError`; inbound is not touched.
   * - `drop-oldest`: discard the oldest queued frames to make room.
   * - `drop-newest`: discard this frame.
   * - `close`: discard the queue and close with 1013 (`TRY_AGAIN_LATER`).
   * @default 'buffer'
   */
  readonly policy?: OutboundPolicy;
  /** Bytes the queue may hold while the socket is congested. @default 1048576 (1 MiB) */
  readonly maxBytes?: number;
  /** Frames the queue may hold while the socket is congested. @default 1024 */
  readonly maxMessages?: number;
  /**
   * Hand every frame written in one tick to the kernel in one write (the TCP
   * socket is corked until the end of the tick). Many small frames then cost
   * one syscall instead of one each; nothing waits longer than the tick.
   * @default true
   */
  readonly batchWrites?: boolean;
}

/** Validated outbound options. */
export interface ResolvedOutbound {
  readonly policy: OutboundPolicy;
  readonly maxBytes: number;
  readonly maxMessages: number;
  readonly batchWrites: boolean;
}

export const OUTBOUND_POLICIES: readonly OutboundPolicy[] = ['buffer', 'drop-oldest', 'drop-newest', 'close', 'error'];

export const DEFAULT_OUTBOUND: ResolvedOutbound = Object.freeze({
  policy: 'buffer',
  maxBytes: 1024 * 1024,
  maxMessages: 1024,
  batchWrites: true,
});

const resolved = new WeakSet<object>([DEFAULT_OUTBOUND]);

/** Validates outbound options once (per server or socket), not per frame. */
export function resolveOutbound(options: OutboundOptions | undefined): ResolvedOutbound {
  if (options === undefined) return DEFAULT_OUTBOUND;
  if (resolved.has(options)) return options as ResolvedOutbound;
  const o = expectObject('outbound', options);
  const limits: ResolvedOutbound = Object.freeze({
    policy: o.policy === undefined ? DEFAULT_OUTBOUND.policy : expectOneOf('outbound.policy', o.policy, OUTBOUND_POLICIES),
    maxBytes: o.maxBytes === undefined ? DEFAULT_OUTBOUND.maxBytes : expectInteger('outbound.maxBytes', o.maxBytes, 1),
    maxMessages:
      o.maxMessages === undefined ? DEFAULT_OUTBOUND.maxMessages : expectInteger('outbound.maxMessages', o.maxMessages, 1),
    batchWrites: o.batchWrites === undefined ? DEFAULT_OUTBOUND.batchWrites : expectBoolean('outbound.batchWrites', o.batchWrites),
  });
  resolved.add(limits);
  return limits;
}

/**
 * What the channel tells its socket. One host object serves every socket
 * (it gets the socket as `owner`), so a socket costs no closures here.
 */
export interface OutboundHost<O> {
  /** A frame was not sent (dropped by policy, or left over at the end). */
  report(owner: O, error: RxwsError): void;
  /** The queue went from empty to non-empty (`true`) or back (`false`). */
  congestion(owner: O, congested: boolean): void;
  /** The `close` policy fired. */
  overflow(owner: O): void;
}

/**
 * Writes frames to a `ws` socket. While the TCP socket accepts data, frames go
 * straight through, and the socket is corked until the end of the tick so a
 * burst leaves in one write. When it reports backpressure
 * (`writableNeedDrain`), frames wait in a bounded queue until `'drain'`.
 */
export class OutboundChannel<O = unknown> {
  static readonly #toUncork: OutboundChannel[] = [];

  readonly #ws: WebSocket;
  readonly #host: OutboundHost<O>;
  readonly #owner: O;
  readonly #limits: ResolvedOutbound;
  // Made on first congestion: most sockets never need one.
  #queue: FrameQueue | null = null;
  #raw: Socket | null = null;
  // Starts "corked" when batching is off, so #send never corks.
  #corked: boolean;
  #onDrain: (() => void) | null = null;
  #drains = 0;

  constructor(ws: WebSocket, owner: O, host: OutboundHost<O>, limits: ResolvedOutbound) {
    this.#ws = ws;
    this.#owner = owner;
    this.#host = host;
    this.#limits = limits;
    this.#corked = !limits.batchWrites;
  }

  /** Frames waiting in the queue. */
  get queuedMessages(): number {
    return this.#queue?.length ?? 0;
  }

  /** Bytes waiting in the queue (not yet handed to `ws`). */
  get queuedBytes(): number {
    return this.#queue?.bytes ?? 0;
  }

  /** How many times the congested socket drained: progress means the peer is reading. */
  get drains(): number {
    return this.#drains;
  }

  /** The socket is open: frames queued before now go out first. */
  open(raw: Socket): void {
    this.#raw = raw;
    const ws = this.#ws as WebSocket & { _isServer?: boolean };
    this.#prepared = ws.extensions === '' && ws._isServer !== false;
    if (this.#onDrain !== null) raw.on('drain', this.#onDrain);
    if (this.queuedMessages > 0) this.#flush();
  }

  /**
   * Sends or queues `frame`: returns `undefined` when it was taken, the error
   * when it was refused, `null` when the policy dropped it (reported to the
   * host already).
   */
  write(frame: Outbound): RxwsError | null | undefined {
    const raw = this.#raw;
    const queue = this.#queue;
    if (raw !== null && (queue === null || queue.length === 0) && !raw.writableNeedDrain) {
      this.#send(raw, frame);
      return undefined;
    }
    const q = queue ?? (this.#queue = new FrameQueue(this.#limits, (error) => this.#host.report(this.#owner, error)));
    const wasEmpty = q.length === 0;
    const result = q.offer(frame);
    if (result === 'close') {
      this.#settle();
      this.#host.overflow(this.#owner);
      return null;
    }
    if (result === 'dropped') return null;
    if (result === undefined && wasEmpty && q.length > 0) {
      this.#attach();
      this.#host.congestion(this.#owner, true);
    }
    return result;
  }

  /** Hands every queued frame to `ws` now (before a close frame). */
  flushAll(): void {
    const raw = this.#raw;
    const queue = this.#queue;
    // Once ws is CLOSING it would drop them without a word: they stay queued and are reported at the end.
    if (raw === null || queue === null || this.#ws.readyState !== WebSocket.OPEN) return;
    while (queue.length > 0) this.#send(raw, queue.shift());
    this.#settle();
  }

  /** Forgets the queue and detaches; returns how many frames were never sent. */
  dispose(): number {
    this.#detach();
    return this.#queue?.clear() ?? 0;
  }

  #send(raw: Socket, frame: Outbound): void {
    if (!this.#corked) {
      this.#corked = true;
      raw.cork();
      if (OutboundChannel.#toUncork.push(this) === 1) process.nextTick(OutboundChannel.#uncorkAll);
    }
    if (!(frame instanceof PreparedFrame)) this.#ws.send(frame);
    else if (this.#prepared) raw.write(frame.bytes);
    else this.#ws.send(frame.payload, { binary: frame.binary });
  }

  /** Whether prepared frames can go to the TCP socket as they are: a server socket without extensions (known at open). */
  #prepared = false;

  static #uncorkAll(this: void): void {
    const list = OutboundChannel.#toUncork;
    // Channels corked while uncorking (a write callback that sends) join the list and are seen too.
    for (let i = 0; i < list.length; i++) {
      const channel = list[i]!;
      channel.#corked = false;
      channel.#raw?.uncork();
    }
    list.length = 0;
  }

  #flush(): void {
    const raw = this.#raw;
    const queue = this.#queue;
    if (raw === null || queue === null || this.#ws.readyState !== WebSocket.OPEN) return;
    while (queue.length > 0 && !raw.writableNeedDrain) this.#send(raw, queue.shift());
    this.#settle();
  }

  /** After the queue shrank: when empty, stop watching and say so. */
  #settle(): void {
    if (this.queuedMessages === 0 && this.#onDrain !== null) {
      this.#detach();
      this.#host.congestion(this.#owner, false);
    }
  }

  #attach(): void {
    if (this.#onDrain !== null) return;
    this.#onDrain = () => {
      this.#drains++;
      this.#flush();
    };
    this.#raw?.on('drain', this.#onDrain);
  }

  #detach(): void {
    if (this.#onDrain === null) return;
    this.#raw?.removeListener('drain', this.#onDrain);
    this.#onDrain = null;
  }
}
