import { BackpressureError, FrameDroppedError } from '../errors';
import type { ResolvedOutbound } from './outbound';
import type { Outbound } from './types';

/**
 * @internal A FIFO of frames bounded by bytes and by count, applying the
 * outbound policy when a frame does not fit. Shared by a socket's congestion
 * queue and the client's offline queue.
 */
export class FrameQueue {
  readonly #limits: ResolvedOutbound;
  readonly #onDrop: (error: FrameDroppedError) => void;
  #frames: Outbound[] = [];
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;

  constructor(limits: ResolvedOutbound, onDrop: (error: FrameDroppedError) => void) {
    this.#limits = limits;
    this.#onDrop = onDrop;
  }

  /** Frames waiting. */
  get length(): number {
    return this.#frames.length - this.#head;
  }

  /** Bytes waiting. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Queues `frame`, or applies the policy when it does not fit: returns the
   * `BackpressureError` that refuses it (`buffer`, `error`), `'close'` when
   * the queue (and it) was discarded for the `close` policy, `'dropped'` when
   * the policy discarded it (reported through `onDrop`), else `undefined`:
   * queued.
   */
  offer(frame: Outbound): BackpressureError | 'close' | 'dropped' | undefined {
    const size = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
    const { policy, maxBytes } = this.#limits;
    if (!this.#fits(size)) {
      switch (policy) {
        case 'drop-newest':
          this.#onDrop(new FrameDroppedError('drop-newest', 1));
          return 'dropped';
        case 'drop-oldest': {
          if (size > maxBytes) {
            // It could never fit: dropping the queue for it would lose frames for nothing.
            this.#onDrop(new FrameDroppedError('drop-oldest', 1));
            return 'dropped';
          }
          let dropped = 0;
          while (this.length > 0 && !this.#fits(size)) {
            this.shift();
            dropped++;
          }
          this.#onDrop(new FrameDroppedError('drop-oldest', dropped));
          break;
        }
        case 'close':
          this.#onDrop(new FrameDroppedError('close', this.clear() + 1));
          return 'close';
        default:
          return new BackpressureError(policy, { bytes: this.#bytes, messages: this.length });
      }
    }
    this.#frames.push(frame);
    this.#sizes.push(size);
    this.#bytes += size;
    return undefined;
  }

  #fits(size: number): boolean {
    return this.length < this.#limits.maxMessages && this.#bytes + size <= this.#limits.maxBytes;
  }

  /** Takes the oldest frame; the queue must not be empty. */
  shift(): Outbound {
    const frame = this.#frames[this.#head]!;
    this.#bytes -= this.#sizes[this.#head]!;
    this.#head++;
    if (this.#head === this.#frames.length) this.clear();
    else if (this.#head >= 1024 && this.#head * 2 >= this.#frames.length) {
      // Compact now and then instead of shifting arrays on every take.
      this.#frames = this.#frames.slice(this.#head);
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
    return frame;
  }

  /** Empties the queue; returns how many frames it held. */
  clear(): number {
    const n = this.length;
    this.#frames = [];
    this.#sizes = [];
    this.#head = 0;
    this.#bytes = 0;
    return n;
  }
}
