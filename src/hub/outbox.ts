/** Bounds of what may wait for a broker that cannot be reached. */
export interface OutboxLimits {
  readonly maxMessages: number;
  readonly maxBytes: number;
}

interface Entry {
  readonly channel: string;
  readonly data: Buffer;
  /** State that is asked for again on reconnect (presence): never kept offline. */
  readonly volatile: boolean;
  acked: boolean;
}

/**
 * @internal Envelopes on their way to the broker, in publish order. Online,
 * each is sent at once and kept until the broker acknowledges it. When the
 * connection drops, the unacknowledged ones wait with those published
 * meanwhile and go out again, in order, once it is back (a receiver drops
 * what it already had by sequence number, so a resend is never a duplicate).
 * What waits offline is bounded: past the limits the oldest go, counted in
 * `dropped`; online, the broker's TCP connection paces us. Volatile entries
 * (presence, asked for again on reconnect) are never kept offline.
 */
export class Outbox {
  readonly #limits: OutboxLimits;
  readonly #transmit: (channel: string, data: Buffer, ack: () => void) => void;
  #entries: (Entry | undefined)[] = [];
  #head = 0;
  #bytes = 0;
  #online = false;
  #acked = 0;
  #dropped = 0;
  #onEmpty: (() => void) | null = null;

  constructor(limits: OutboxLimits, transmit: (channel: string, data: Buffer, ack: () => void) => void) {
    this.#limits = limits;
    this.#transmit = transmit;
  }

  /** Envelopes not yet acknowledged. */
  get length(): number {
    return this.#entries.length - this.#head;
  }

  /** Envelopes the broker acknowledged. */
  get acked(): number {
    return this.#acked;
  }

  /** Envelopes given up: the offline bound, or still waiting at `clear()`. */
  get dropped(): number {
    return this.#dropped;
  }

  push(channel: string, data: Buffer, volatile = false): void {
    if (volatile && !this.#online) return;
    const entry: Entry = { channel, data, volatile, acked: false };
    this.#entries.push(entry);
    this.#bytes += data.length;
    if (this.#online) this.#send(entry);
    else this.#bound();
  }

  /** The connection is up: sends what waits, oldest first. */
  online(): void {
    if (this.#online) return;
    this.#online = true;
    for (let i = this.#head; i < this.#entries.length; i++) this.#send(this.#entries[i]!);
  }

  /** The connection is down: what the broker did not acknowledge waits (within the bounds). */
  offline(): void {
    if (!this.#online) return;
    this.#online = false;
    const waiting = this.#entries.slice(this.#head).filter((entry) => entry !== undefined && !entry.acked && !entry.volatile) as Entry[];
    this.#entries = waiting;
    this.#head = 0;
    this.#bytes = waiting.reduce((sum, entry) => sum + entry.data.length, 0);
    this.#bound();
  }

  /** Resolves once nothing waits, or after `timeout` ms. */
  drained(timeout: number): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeout);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#onEmpty = done;
    });
  }

  /** Gives up what still waits (counted as dropped). */
  clear(): void {
    this.#dropped += this.length;
    this.#entries = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#onEmpty = null;
  }

  #send(entry: Entry): void {
    this.#transmit(entry.channel, entry.data, () => this.#ack(entry));
  }

  #ack(entry: Entry): void {
    if (entry.acked) return;
    entry.acked = true;
    this.#acked++;
    // The broker answers in order, so acknowledged entries are a prefix.
    while (this.length > 0 && this.#entries[this.#head]!.acked) this.#shift();
    if (this.length === 0) {
      const onEmpty = this.#onEmpty;
      this.#onEmpty = null;
      onEmpty?.();
    }
  }

  #bound(): void {
    const { maxMessages, maxBytes } = this.#limits;
    while (this.length > 0 && (this.length > maxMessages || this.#bytes > maxBytes)) {
      if (!this.#shift().acked) this.#dropped++;
    }
  }

  #shift(): Entry {
    const entry = this.#entries[this.#head]!;
    this.#entries[this.#head++] = undefined;
    this.#bytes -= entry.data.length;
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#entries.length) {
      // Compact now and then instead of shifting the array on every ack.
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    return entry;
  }
}
