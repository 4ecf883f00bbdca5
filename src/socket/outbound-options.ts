import { DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_MESSAGES } from '../constants';
import type { OutboundPolicy } from '../errors';
import { expectBoolean, expectInteger, expectObject, expectOneOf } from '../validation';

/** Outbound flow control for one socket. */
export interface OutboundOptions {
  /**
   * What to do with a frame that does not fit in the queue (the peer reads
   * slower than you write):
   * - `error`: refuse it with `BackpressureError` (`next()` reports it on
   *   `errors$`, `send()` throws it);
   * - `drop-oldest`: discard the oldest queued frames to make room (reported);
   * - `drop-newest`: discard this frame (reported);
   * - `close`: discard the queue and close with 1013 (`TRY_AGAIN_LATER`).
   *
   * A frame larger than `maxBytes` is queued when the queue is empty, so no
   * frame size is refused outright.
   * @default 'error'
   */
  readonly policy?: OutboundPolicy;
  /** Bytes the queue may hold while the socket is congested. @default 1048576 (1 MiB) */
  readonly maxBytes?: number;
  /** Frames the queue may hold while the socket is congested. @default 1024 */
  readonly maxMessages?: number;
  /**
   * Stop reading from the peer while frames wait in the queue, so that
   * traffic whose output is its input (an echo, a request/response protocol)
   * slows the peer through TCP instead of filling the queue. Off by default:
   * two peers that both stop reading while they cannot write can wait on
   * each other for ever.
   * @default false
   */
  readonly pauseReading?: boolean;
  /**
   * Hand every frame written in one tick to the kernel in one write (the TCP
   * socket is corked until the end of the tick). Many small frames then cost
   * one syscall instead of one each; nothing waits longer than the tick.
   * @default true
   */
  readonly batchWrites?: boolean;
}

/** Validated outbound options. Not exported from the package. */
export interface ResolvedOutbound {
  readonly policy: OutboundPolicy;
  readonly maxBytes: number;
  readonly maxMessages: number;
  readonly pauseReading: boolean;
  readonly batchWrites: boolean;
}

/** @internal */
export const OUTBOUND_POLICIES: readonly OutboundPolicy[] = ['error', 'drop-oldest', 'drop-newest', 'close'];

/** @internal */
export const DEFAULT_OUTBOUND: ResolvedOutbound = Object.freeze({
  policy: 'error',
  maxBytes: DEFAULT_QUEUE_BYTES,
  maxMessages: DEFAULT_QUEUE_MESSAGES,
  pauseReading: false,
  batchWrites: true,
});

const resolved = new WeakSet<object>([DEFAULT_OUTBOUND]);

/** Validates outbound options once (per server or socket), not per frame. */
export function resolveOutbound(options: OutboundOptions | undefined, name = 'outbound'): ResolvedOutbound {
  if (options === undefined) return DEFAULT_OUTBOUND;
  if (resolved.has(options)) return options as ResolvedOutbound;
  const o = expectObject(name, options);
  const limits: ResolvedOutbound = Object.freeze({
    policy: o.policy === undefined ? DEFAULT_OUTBOUND.policy : expectOneOf(`${name}.policy`, o.policy, OUTBOUND_POLICIES),
    maxBytes: o.maxBytes === undefined ? DEFAULT_OUTBOUND.maxBytes : expectInteger(`${name}.maxBytes`, o.maxBytes, 1),
    maxMessages: o.maxMessages === undefined ? DEFAULT_OUTBOUND.maxMessages : expectInteger(`${name}.maxMessages`, o.maxMessages, 1),
    pauseReading: o.pauseReading === undefined ? DEFAULT_OUTBOUND.pauseReading : expectBoolean(`${name}.pauseReading`, o.pauseReading),
    batchWrites: o.batchWrites === undefined ? DEFAULT_OUTBOUND.batchWrites : expectBoolean(`${name}.batchWrites`, o.batchWrites),
  });
  resolved.add(limits);
  return limits;
}

