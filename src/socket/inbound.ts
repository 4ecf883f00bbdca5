import { Observable, type Subscriber } from 'rxjs';
import { Defaults } from '../constants';
import { Fanout } from './fanout';
import type { Inbound } from './types';

/**
 * @internal The inbound side of a socket: fans frames out to `messages$`
 * subscribers, and holds them while there is none, so a subscriber that comes
 * a little late (after an `await`) loses nothing. Past `holdLimit` held frames
 * it asks the socket to stop reading, so the peer is slowed by TCP rather than
 * memory growing.
 */
export class InboundChannel<O = unknown> {
  readonly #subscribers = new Fanout<Inbound>();
  readonly #holdLimit: number;
  readonly #owner: O;
  readonly #hold: (owner: O, on: boolean) => void;
  #held: Inbound[] = [];
  #heldBytes = 0;
  #ended = false;
  #failure: unknown;

  #messages$: Observable<Inbound> | null = null;

  /** `hold(owner, true)` asks the owner to stop reading, `hold(owner, false)` to read again; one function serves all sockets. */
  constructor(holdLimit: number, owner: O, hold: (owner: O, on: boolean) => void) {
    this.#holdLimit = holdLimit;
    this.#owner = owner;
    this.#hold = hold;
  }

  /** The stream of frames (made on first use). */
  get messages$(): Observable<Inbound> {
    return (this.#messages$ ??= new Observable<Inbound>((subscriber) => this.#subscribe(subscriber)));
  }

  push(frame: Inbound): void {
    if (this.#subscribers.size > 0) return this.#subscribers.next(frame);
    const count = this.#held.push(frame);
    const was = this.#heldBytes;
    this.#heldBytes += typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
    // Bounded by count and by bytes (a thousand 16 MiB frames must not be held).
    if (count === this.#holdLimit || (was < Defaults.inboundHoldBytes && this.#heldBytes >= Defaults.inboundHoldBytes)) {
      this.#hold(this.#owner, true);
    }
  }

  /** The socket closed: complete, or error with `failure`. Held frames stay for a late subscriber. */
  end(failure?: unknown): void {
    this.#ended = true;
    this.#failure = failure;
    this.#subscribers.end(failure);
  }

  #subscribe(subscriber: Subscriber<Inbound>): (() => void) | undefined {
    const held = this.#held;
    if (held.length > 0) {
      let i = 0;
      // Stop if the subscriber leaves mid-flush (take(1)): the rest waits for the next one.
      while (i < held.length && !subscriber.closed) subscriber.next(held[i++]!);
      held.splice(0, i);
      this.#heldBytes = held.reduce((n, f) => n + (typeof f === 'string' ? Buffer.byteLength(f) : f.length), 0);
      if (subscriber.closed) return undefined;
    }
    if (this.#ended) {
      if (this.#failure !== undefined) subscriber.error(this.#failure);
      else subscriber.complete();
      return undefined;
    }
    if (this.#subscribers.size === 0) this.#hold(this.#owner, false);
    const remove = this.#subscribers.add(subscriber);
    return remove;
  }
}
