import { Defaults } from '../constants';
import type { Inbound } from './types';
import { Held } from './held';

/** @internal What the inbound channel tells its socket. */
export interface InboundHost {
  /** The hold filled up or has room again: re-derive whether to read. */
  holdChanged(): void;
}

/**
 * @internal The inbound side of a socket: `messages$`, and the frames held
 * while it has no subscriber, so a subscriber that comes a little late (after
 * an `await`) loses nothing. The hold is bounded by count and by bytes: once
 * full, the socket stops reading (TCP slows the peer) until a subscriber takes
 * the frames.
 */
export class InboundChannel extends Held<Inbound> {
  readonly #host: InboundHost;
  readonly #maxMessages: number;
  #bytes = 0;

  constructor(host: InboundHost, maxMessages: number) {
    super();
    this.#host = host;
    this.#maxMessages = maxMessages;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether the hold is full (the socket should not read). */
  get full(): boolean {
    return this.#full(this.length, this.#bytes);
  }

  // Called with the frame already in the queue (held) or already out of it (released).
  protected override held(frame: Inbound): void {
    const was = this.#full(this.length - 1, this.#bytes);
    this.#bytes += sizeOf(frame);
    if (!was && this.full) this.#host.holdChanged();
  }

  protected override released(frame: Inbound): void {
    const was = this.#full(this.length + 1, this.#bytes);
    this.#bytes -= sizeOf(frame);
    if (was && !this.full) this.#host.holdChanged();
  }

  #full(length: number, bytes: number): boolean {
    return length >= this.#maxMessages || bytes >= Defaults.inboundHoldBytes;
  }
}

function sizeOf(frame: Inbound): number {
  return typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
}
