import { BackpressureError, FrameDroppedError, type OutboundPolicy } from '../errors';
import { utf8Length } from '../utf8';
import type { Outbound } from '../types';
import { Fifo } from './fifo';

/** @internal The bounds and overflow policy of a {@link FrameQueue}. */
export interface QueueLimits {
  readonly policy: OutboundPolicy;
  readonly maxBytes: number;
  readonly maxMessages: number;
}

/** @internal What `offer()` did with a frame. */
export type Offered = 'queued' | 'dropped' | 'close' | BackpressureError;

/**
 * @internal A FIFO of frames bounded by bytes and by count, applying the
 * overflow policy to a frame that does not fit. A frame larger than the whole
 * byte bound is taken when the queue is empty (alone it would never fit, and
 * refusing it would lose every frame of that size), so the queue holds at most
 * `maxBytes` plus one frame. Shared by a socket's congestion queue and the
 * client's offline queue.
 */
export class FrameQueue {
  readonly #limits: QueueLimits;
  readonly #onDrop: (error: FrameDroppedError) => void;
  readonly #frames = new Fifo<Outbound>();
  readonly #sizes = new Fifo<number>();
  #bytes = 0;

  constructor(limits: QueueLimits, onDrop: (error: FrameDroppedError) => void) {
    this.#limits = limits;
    this.#onDrop = onDrop;
  }

  /** Frames waiting. */
  get length(): number {
    return this.#frames.length;
  }

  /** Bytes waiting. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Queues `frame`, or applies the policy when it does not fit:
   * `'queued'`; `'dropped'` when the policy discarded it (`drop-newest`);
   * `'close'` when it does not fit under the `close` policy (the queue is
   * left as it was: the caller discards it, and the frame); or the
   * `BackpressureError` that refuses it (`error`).
   * `drop-oldest` discards older frames until this one fits, then queues it.
   * Drops are reported through `onDrop` once the queue is in its final state,
   * so a report that sends again (from an `errors$` subscriber) finds it
   * consistent.
   */
  offer(frame: Outbound): Offered {
    const size = byteLength(frame);
    const policy = this.#limits.policy;
    let dropped = 0;
    if (!this.#fits(size)) {
      if (policy === 'error') return new BackpressureError(policy, { bytes: this.#bytes, messages: this.length });
      if (policy === 'close') return 'close';
      if (policy === 'drop-newest') {
        this.#onDrop(new FrameDroppedError(policy, 1));
        return 'dropped';
      }
      for (; !this.#fits(size); dropped++) this.shift();
    }
    this.#append(frame, size);
    if (dropped > 0) this.#onDrop(new FrameDroppedError('drop-oldest', dropped));
    return 'queued';
  }

  /**
   * Puts frames back at the head, in their order, whatever the bounds (they
   * were accepted once already: a client's frames that a connection never
   * sent). The queue may then hold up to the other queue's bound more.
   */
  requeue(frames: readonly Outbound[]): void {
    if (frames.length === 0) return;
    for (const frame of [...frames, ...this.takeAll()]) this.#append(frame, byteLength(frame));
  }

  /** Takes the oldest frame; the queue must not be empty. */
  shift(): Outbound {
    this.#bytes -= this.#sizes.shift();
    return this.#frames.shift();
  }

  /** Empties the queue and returns its frames, oldest first. */
  takeAll(): Outbound[] {
    this.#sizes.clear();
    this.#bytes = 0;
    return this.#frames.clear();
  }

  /** Empties the queue; returns how many frames it held. */
  clear(): number {
    return this.takeAll().length;
  }

  #fits(size: number): boolean {
    const n = this.length;
    return n === 0 || (n < this.#limits.maxMessages && this.#bytes + size <= this.#limits.maxBytes);
  }

  #append(frame: Outbound, size: number): void {
    this.#frames.push(frame);
    this.#sizes.push(size);
    this.#bytes += size;
  }
}

/** Bytes of an outbound frame's payload (a prepared frame: what it puts on the wire). */
export function byteLength(frame: Outbound): number {
  return typeof frame === 'string' ? utf8Length(frame) : frame.byteLength;
}
