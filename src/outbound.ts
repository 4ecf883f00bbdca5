import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { BackpressureError, FrameDroppedError, type OutboundPolicy, type RxwsError } from './errors';
import type { Outbound } from './types';
import { expectInteger, expectObject, expectOneOf } from './validation';

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
}

/** Validated outbound options. */
export interface ResolvedOutbound {
  readonly policy: OutboundPolicy;
  readonly maxBytes: number;
  readonly maxMessages: number;
}

export const OUTBOUND_POLICIES: readonly OutboundPolicy[] = ['buffer', 'drop-oldest', 'drop-newest', 'close', 'error'];

export const DEFAULT_OUTBOUND: ResolvedOutbound = Object.freeze({
  policy: 'buffer',
  maxBytes: 1024 * 1024,
  maxMessages: 1024,
});

/** Validates outbound options once (per server or socket), not per frame. */
export function resolveOutbound(options: OutboundOptions | undefined): ResolvedOutbound {
  if (options === undefined) return DEFAULT_OUTBOUND;
  const o = expectObject('outbound', options);
  return Object.freeze({
    policy: o.policy === undefined ? DEFAULT_OUTBOUND.policy : expectOneOf('outbound.policy', o.policy, OUTBOUND_POLICIES),
    maxBytes: o.maxBytes === undefined ? DEFAULT_OUTBOUND.maxBytes : expectInteger('outbound.maxBytes', o.maxBytes, 1),
    maxMessages:
      o.maxMessages === undefined ? DEFAULT_OUTBOUND.maxMessages : expectInteger('outbound.maxMessages', o.maxMessages, 1),
  });
}

/** What the channel tells its socket. */
export interface OutboundHost {
  /** A frame was not sent (dropped by policy, or left over at the end). */
  report(error: RxwsError): void;
  /** The queue went from empty to non-empty (`true`) or back (`false`). */
  congestion(congested: boolean): void;
  /** The `close` policy fired. */
  overflow(): void;
}

/**
 * Writes frames to a `ws` socket. While the TCP socket accepts data, frames go
 * straight through, and the socket is corked until the end of the tick so a
 * burst leaves in one write. When it reports backpressure
 * (`writableNeedDrain`), frames wait in a bounded queue until `'drain'`.
 */
export class OutboundChannel {
  static readonly #toUncork: OutboundChannel[] = [];

  readonly #ws: WebSocket;
  readonly #host: OutboundHost;
  readonly #limits: ResolvedOutbound;
  #raw: Socket | null = null;
  #frames: Outbound[] = [];
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;
  #corked = false;
  #onDrain: (() => void) | null = null;
  #drains = 0;

  constructor(ws: WebSocket, host: OutboundHost, limits: ResolvedOutbound) {
    this.#ws = ws;
    this.#host = host;
    this.#limits = limits;
  }

  /** Frames waiting in the queue. */
  get queuedMessages(): number {
    return this.#frames.length - this.#head;
  }

  /** How many times the congested socket drained: progress means the peer is reading. */
  get drains(): number {
    return this.#drains;
  }

  /** Bytes waiting in the queue (not yet handed to `ws`). */
  get queuedBytes(): number {
    return this.#bytes;
  }

  /** The socket is open: frames queued before now go out first. */
  open(raw: Socket): void {
    this.#raw = raw;
    if (this.queuedMessages > 0) this.#flush();
  }

  /**
   * Sends or queues `frame`. Returns an error when the frame was refused;
   * frames dropped by policy are reported to the host instead.
   */
  write(frame: Outbound): RxwsError | undefined {
    const raw = this.#raw;
    if (raw !== null && this.#head === this.#frames.length && !raw.writableNeedDrain) {
      this.#send(raw, frame);
      return undefined;
    }
    return this.#enqueue(frame);
  }

  /** Hands every queued frame to `ws` now (before a close frame). */
  flushAll(): void {
    const raw = this.#raw;
    if (raw === null) return;
    while (this.#head < this.#frames.length) this.#send(raw, this.#shift());
    this.#settle();
  }

  /** Forgets the queue and detaches; returns how many frames were never sent. */
  dispose(): number {
    const unsent = this.queuedMessages;
    this.#frames = [];
    this.#sizes = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#detach();
    return unsent;
  }

  #send(raw: Socket, frame: Outbound): void {
    if (!this.#corked) {
      this.#corked = true;
      raw.cork();
      if (OutboundChannel.#toUncork.push(this) === 1) process.nextTick(OutboundChannel.#uncorkAll);
    }
    this.#ws.send(frame);
  }

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

  #enqueue(frame: Outbound): RxwsError | undefined {
    const size = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
    const { policy, maxBytes, maxMessages } = this.#limits;
    if (this.queuedMessages + 1 > maxMessages || this.#bytes + size > maxBytes) {
      switch (policy) {
        case 'drop-newest':
          this.#host.report(new FrameDroppedError('drop-newest', 1));
          return undefined;
        case 'drop-oldest': {
          let dropped = 0;
          while (this.queuedMessages > 0 && (this.queuedMessages + 1 > maxMessages || this.#bytes + size > maxBytes)) {
            this.#shift();
            dropped++;
          }
          if (this.#bytes + size > maxBytes) {
            // Larger than the whole queue: it can never fit, so it goes too.
            this.#host.report(new FrameDroppedError('drop-oldest', dropped + 1));
            this.#settle();
            return undefined;
          }
          this.#host.report(new FrameDroppedError('drop-oldest', dropped));
          break;
        }
        case 'close': {
          const dropped = this.dispose() + 1;
          this.#host.report(new FrameDroppedError('close', dropped));
          this.#host.overflow();
          return undefined;
        }
        default:
          return new BackpressureError(policy, { bytes: this.#bytes, messages: this.queuedMessages });
      }
    }
    const wasEmpty = this.queuedMessages === 0;
    this.#frames.push(frame);
    this.#sizes.push(size);
    this.#bytes += size;
    if (wasEmpty) {
      this.#attach();
      this.#host.congestion(true);
    }
    return undefined;
  }

  #shift(): Outbound {
    const frame = this.#frames[this.#head]!;
    this.#bytes -= this.#sizes[this.#head]!;
    this.#head++;
    if (this.#head === this.#frames.length) {
      this.#frames = [];
      this.#sizes = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head);
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
    return frame;
  }

  #flush(): void {
    const raw = this.#raw;
    if (raw === null || this.#ws.readyState !== WebSocket.OPEN) return;
    while (this.#head < this.#frames.length && !raw.writableNeedDrain) this.#send(raw, this.#shift());
    this.#settle();
  }

  /** After the queue shrank: when empty, stop watching and say so. */
  #settle(): void {
    if (this.#head === this.#frames.length && this.#onDrain !== null) {
      this.#detach();
      this.#host.congestion(false);
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
