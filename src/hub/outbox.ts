import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';

/** Bounds of envelopes, in number and in bytes. */
export interface OutboxLimits {
  readonly maxMessages: number;
  readonly maxBytes: number;
}

/** How the broker answered one transmission. Call at most one, at most once. */
export interface Reply {
  /** It took the envelope. */
  ack(): void;
  /** It answered with an error; `transient` if the same command may be taken a little later. */
  refuse(error: Error, transient: boolean): void;
}

/** How an outbox reaches its broker. */
export interface OutboxOptions {
  /**
   * Bounds of everything that waits for the broker, connected or not, what is
   * on its way included: past them the oldest envelope not on its way goes
   * (counted in `dropped`).
   */
  readonly limits: OutboxLimits;
  /**
   * Bounds of what is on its way (sent, not answered yet). Past them, new
   * envelopes wait in the outbox, within `limits`, for answers to make room:
   * a broker that stops answering while connected holds at most this much in
   * the client's buffers. One envelope may always be on its way, however big.
   * @default no bound
   */
  readonly window?: OutboxLimits;
  /** How often an envelope refused with a transient error is sent again before it is given up. */
  readonly retries: number;
  /** The wait before retry `n` (1, 2, 3…), in ms. */
  readonly retryDelay: (retry: number) => number;
  /** Sends (with the `extra` it was pushed with). A lost connection answers nothing: `offline()` keeps what it did not answer. */
  readonly transmit: (channel: string, data: Buffer, reply: Reply, extra: string | undefined) => void;
  /** An envelope was given up because the broker refused it. */
  readonly refused?: (channel: string, error: Error) => void;
  /**
   * `limits` made the outbox drop an envelope, the first time since it was
   * last empty (once per backlog, not once per envelope); `dropped` is the
   * total so far.
   */
  readonly overflow?: (dropped: number) => void;
  /** Time of retries and of `drained()`'s timeout. @default asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

interface Entry {
  readonly channel: string;
  readonly data: Buffer;
  /** State that is asked for again on reconnect (presence): never kept offline. */
  readonly volatile: boolean;
  /** What the transmitter needs besides the bytes (not counted in the bounds). */
  readonly extra: string | undefined;
  /** `sent`: on its way, unanswered; `refused`: transiently, and waiting to be sent again. */
  state: 'waiting' | 'sent' | 'refused';
  refusals: number;
  error: Error | null;
  /** When it was pushed (the scheduler's time): how long the oldest has waited is the adapter's lag. */
  readonly at: number;
}

/**
 * @internal Envelopes on their way to the broker, in publish order. Online,
 * each is sent as soon as the `window` has room (at once, normally) and kept
 * until the broker answers. When the connection drops, the unanswered ones
 * wait with those published meanwhile and go out again, in order, once it is
 * back (a receiver drops what it already had by sequence number, so a resend
 * is never a duplicate). What waits is bounded by `limits`, online or not:
 * past them the oldest envelopes not on their way go, counted in `dropped`
 * and reported once per backlog (`overflow`). So a broker that is reachable
 * but does not answer (stalled, frozen) costs at most `window` in the
 * client's buffers plus `limits` here. Volatile entries (presence, asked for
 * again on reconnect) are never kept offline.
 *
 * An error answer gives the envelope up (`dropped`, `refused`), unless it is
 * transient: then nothing new goes out until every answer is in, and the
 * refused envelopes are sent again, oldest first, ahead of what waited. An
 * answered envelope leaves at once, whatever is still unanswered before it.
 */
export class Outbox {
  readonly #options: OutboxOptions;
  readonly #scheduler: SchedulerLike;
  readonly #window: OutboxLimits;
  /** Unanswered envelopes in publish order: a Set keeps insertion order and deletes any one in O(1). */
  readonly #entries = new Set<Entry>();
  /**
   * The entries waiting to be sent, oldest first, from `#head` on: always the
   * newest of `#entries` (what is sent goes in order). An entry that left
   * otherwise is skipped when reached.
   */
  #unsent: Entry[] = [];
  #head = 0;
  #bytes = 0;
  #online = false;
  /** Bumped when the connection drops: an answer from an older connection says nothing about what is sent now. */
  #epoch = 0;
  /** Entries sent on this connection and not answered yet, and their bytes. */
  #inFlight = 0;
  #inFlightBytes = 0;
  /** The bound dropped an envelope since the outbox was last empty (and said so). */
  #overflowing = false;
  /** A transient refusal is pending: what is published meanwhile waits behind it, so the order holds. */
  #holding = false;
  #retry: Subscription | null = null;
  #stopped = false;
  #acked = 0;
  #dropped = 0;
  #refused = 0;
  #onEmpty: (() => void) | null = null;

  constructor(options: OutboxOptions) {
    this.#options = options;
    this.#scheduler = options.scheduler ?? asyncScheduler;
    this.#window = options.window ?? { maxMessages: Infinity, maxBytes: Infinity };
  }

  /** Envelopes not answered yet. */
  get length(): number {
    return this.#entries.size;
  }

  /** Their bytes. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Envelopes the broker acknowledged. */
  get acked(): number {
    return this.#acked;
  }

  /** Envelopes on their way: sent and not answered yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Envelopes given up: the bound, refused by the broker, or still waiting at `stop()`/`clear()`. */
  get dropped(): number {
    return this.#dropped;
  }

  /** How long the oldest envelope not answered yet has waited, in ms; 0 when none waits. */
  get lag(): number {
    const oldest = this.#entries.values().next();
    return oldest.done === true ? 0 : Math.max(0, this.#scheduler.now() - oldest.value.at);
  }

  /** Envelopes given up because the broker refused them (also in `dropped`). */
  get refused(): number {
    return this.#refused;
  }

  push(channel: string, data: Buffer, volatile = false, extra?: string): void {
    if (this.#stopped) {
      this.#dropped++;
      return;
    }
    if (volatile && !this.#online) return;
    const entry: Entry = { channel, data, volatile, extra, state: 'waiting', refusals: 0, error: null, at: this.#scheduler.now() };
    this.#entries.add(entry);
    this.#bytes += data.length;
    this.#unsent.push(entry);
    this.#pump();
    this.#bound();
  }

  /** The connection is up: sends what waits, oldest first. */
  online(): void {
    if (this.#online) return;
    this.#online = true;
    if (!this.#stopped) this.#flush();
  }

  /** The connection is down: what the broker did not answer waits (within the bounds). */
  offline(): void {
    if (!this.#online) return;
    this.#online = false;
    this.#epoch++;
    this.#holding = false;
    this.#cancelRetry();
    for (const entry of this.#entries) {
      if (entry.volatile) this.#remove(entry);
      else entry.state = 'waiting';
    }
    this.#inFlight = 0;
    this.#inFlightBytes = 0;
    this.#unsent = [...this.#entries];
    this.#head = 0;
    this.#bound();
    this.#checkEmpty();
  }

  /** Resolves once nothing waits, or after `timeout` ms. */
  drained(timeout: number): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        timer.unsubscribe();
        this.#onEmpty = null;
        resolve();
      };
      const timer = this.#scheduler.schedule(done, timeout);
      this.#onEmpty = done;
    });
  }

  /**
   * Sends nothing more: gives up what has not gone out (counted as dropped)
   * and keeps what is on its way, so an answer that still comes counts it
   * as acknowledged rather than lost. Online and not held back by a refusal,
   * what waits only for room in the window goes out first: the window paces
   * a broker, it is no reason to lose what the outbox holds.
   */
  stop(): void {
    if (this.#online && !this.#holding && !this.#stopped) this.#pump(true);
    this.#stopped = true;
    this.#holding = false;
    this.#cancelRetry();
    for (const entry of this.#entries) {
      if (entry.state === 'sent') continue;
      this.#remove(entry);
      this.#dropped++;
    }
    this.#unsent = [];
    this.#head = 0;
    this.#checkEmpty();
  }

  /** Stops, and gives up what still waits (counted as dropped). */
  clear(): void {
    this.stop();
    this.#dropped += this.#entries.size;
    this.#entries.clear();
    this.#unsent = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#inFlight = 0;
    this.#inFlightBytes = 0;
    this.#overflowing = false;
    this.#onEmpty = null;
  }

  #send(entry: Entry): void {
    entry.state = 'sent';
    this.#inFlight++;
    this.#inFlightBytes += entry.data.length;
    const epoch = this.#epoch;
    this.#options.transmit(
      entry.channel,
      entry.data,
      {
        ack: () => this.#ack(entry, epoch),
        refuse: (error, transient) => this.#refuse(entry, epoch, error, transient),
      },
      entry.extra,
    );
  }

  /** Sends the refused entries again (the oldest: nothing is on its way when they go), then what waits, as the window allows. */
  #flush(): void {
    for (const entry of this.#entries) {
      if (entry.state === 'waiting') break;
      if (entry.state === 'refused') this.#send(entry);
    }
    this.#pump();
  }

  /** Sends what waits, oldest first, while the window has room (`all`: whatever the window). */
  #pump(all = false): void {
    if (!this.#online || this.#holding || this.#stopped) return;
    for (;;) {
      const entry = this.#nextUnsent();
      if (entry === undefined) break;
      const room =
        all ||
        this.#inFlight === 0 ||
        (this.#inFlight < this.#window.maxMessages && this.#inFlightBytes + entry.data.length <= this.#window.maxBytes);
      if (!room) break;
      this.#head++;
      this.#send(entry);
    }
  }

  /** The oldest entry waiting to be sent, skipping those that left meanwhile. */
  #nextUnsent(): Entry | undefined {
    const unsent = this.#unsent;
    while (this.#head < unsent.length) {
      const entry = unsent[this.#head]!;
      if (entry.state === 'waiting' && this.#entries.has(entry)) break;
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > unsent.length) {
      this.#unsent = unsent.slice(this.#head);
      this.#head = 0;
    }
    return this.#unsent[this.#head];
  }

  #ack(entry: Entry, epoch: number): void {
    if (!this.#entries.has(entry)) return;
    if (epoch === this.#epoch && entry.state === 'sent') {
      // The broker answers a connection's commands in order, so whatever went out before this one was answered.
      for (const earlier of this.#entries) {
        if (earlier === entry) break;
        if (earlier.state === 'sent') {
          // Its answer came, but not to us (the client gave up waiting, e.g. a command timeout): only an error reply
          // refuses a publish, and none is known, so it counts as taken.
          this.#remove(earlier);
          this.#acked++;
        } else if (earlier.state === 'refused') {
          // Overtaken: receivers took a newer envelope of ours, so they would drop this one as already seen.
          this.#giveUp(earlier, earlier.error!);
        }
      }
    }
    this.#remove(entry);
    this.#acked++;
    this.#next();
  }

  #refuse(entry: Entry, epoch: number, error: Error, transient: boolean): void {
    // An older connection's answer: the entry goes out again on this one anyway.
    if (!this.#entries.has(entry) || epoch !== this.#epoch || entry.state !== 'sent') return;
    if (transient && !this.#stopped && entry.refusals < this.#options.retries) {
      entry.refusals++;
      entry.state = 'refused';
      entry.error = error;
      this.#inFlight--;
      this.#inFlightBytes -= entry.data.length;
      this.#holding = true;
    } else this.#giveUp(entry, error);
    this.#next();
  }

  /** After an answer: sends what the window has room for; held, once every answer is in, the refused entries again, after a delay. */
  #next(): void {
    if (!this.#holding) this.#pump();
    else if (this.#inFlight === 0 && this.#retry === null) {
      let first: Entry | undefined;
      for (const entry of this.#entries) {
        if (entry.state === 'refused') {
          first = entry;
          break;
        }
      }
      if (first === undefined) {
        // Overtaken and given up, all of them: what waited behind them can go.
        this.#holding = false;
        this.#flush();
      } else {
        this.#retry = this.#scheduler.schedule(() => {
          this.#retry = null;
          this.#holding = false;
          this.#flush();
        }, this.#options.retryDelay(first.refusals));
      }
    }
    this.#checkEmpty();
  }

  #giveUp(entry: Entry, error: Error): void {
    this.#remove(entry);
    this.#dropped++;
    this.#refused++;
    this.#options.refused?.(entry.channel, error);
  }

  /** Past the limits, drops the oldest entries not on their way (their answer is), and says so once per backlog. */
  #bound(): void {
    const { maxMessages, maxBytes } = this.#options.limits;
    const over = () => this.#entries.size > maxMessages || this.#bytes > maxBytes;
    if (!over()) return;
    const before = this.#dropped;
    if (this.#holding) {
      // Refused entries wait too, older than the rest: the slow way, for the moments a refusal holds the outbox.
      for (const entry of this.#entries) {
        if (!over()) break;
        if (entry.state === 'sent') continue;
        this.#remove(entry);
        this.#dropped++;
      }
    } else {
      while (over()) {
        const entry = this.#nextUnsent();
        if (entry === undefined) break; // all on their way
        this.#head++;
        this.#remove(entry);
        this.#dropped++;
      }
    }
    if (this.#dropped > before && !this.#overflowing) {
      this.#overflowing = true;
      this.#options.overflow?.(this.#dropped);
    }
  }

  #remove(entry: Entry): void {
    this.#entries.delete(entry);
    this.#bytes -= entry.data.length;
    if (entry.state === 'sent') {
      this.#inFlight--;
      this.#inFlightBytes -= entry.data.length;
    }
    if (this.#entries.size === 0) this.#overflowing = false;
  }

  #cancelRetry(): void {
    this.#retry?.unsubscribe();
    this.#retry = null;
  }

  #checkEmpty(): void {
    if (this.#entries.size > 0 || this.#onEmpty === null) return;
    const onEmpty = this.#onEmpty;
    this.#onEmpty = null;
    onEmpty();
  }
}
