/**
 * Echo load on a set of connections, in one worker: each connection keeps
 * `window` messages in flight (send `window`, then one more per echo), every
 * echo is checked against what was sent (content, kind, order), and the
 * round trips inside the measured window are timed.
 */
import { performance } from 'node:perf_hooks';
import type { Connection } from './connection';
import { Payloads, sequenceOf } from './payload';
import type { EchoCommand, EchoReport } from './protocol';

interface Flow {
  readonly connection: Connection;
  /** Send times of the messages in flight, by sequence number modulo the window. */
  readonly times: Float64Array;
  sent: number;
  expected: number;
}

export class EchoRun {
  readonly #command: EchoCommand;
  readonly #payloads: Payloads;
  readonly #violation: (why: string) => void;
  readonly #flows = new Map<number, Flow>();
  readonly #latencies = new Samples();
  #sending = true;
  #measuring = false;
  #echoes = 0;
  #sent = 0;
  #received = 0;
  #measuredMs = 0;
  #done: (() => void) | null = null;

  constructor(connections: Iterable<Connection>, command: EchoCommand, violation: (why: string) => void) {
    this.#command = command;
    this.#payloads = new Payloads(command.size, command.binary);
    this.#violation = violation;
    for (const connection of connections) {
      this.#flows.set(connection.id, { connection, times: new Float64Array(command.window), sent: 0, expected: 0 });
    }
  }

  /** Loads, measures, stops sending, and waits for the last echoes. */
  async run(): Promise<EchoReport> {
    const { warmupMs, durationMs, drainMs, window } = this.#command;
    let started = 0;
    const finished = new Promise<void>((resolve) => (this.#done = resolve));
    const timers = [
      setTimeout(() => {
        this.#measuring = true;
        started = performance.now();
      }, warmupMs),
      setTimeout(() => {
        this.#measuring = this.#sending = false;
        this.#measuredMs = performance.now() - started;
        this.#checkDone();
      }, warmupMs + durationMs),
    ];
    for (const flow of this.#flows.values()) for (let i = 0; i < window; i++) this.#send(flow);
    let lost: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<boolean>((resolve) => (lost = setTimeout(() => resolve(false), warmupMs + durationMs + drainMs)));
    const drained = await Promise.race([finished.then(() => true), gaveUp]);
    for (const timer of [...timers, lost]) clearTimeout(timer);
    if (!drained) this.#violation(`${this.#sent - this.#received} of ${this.#sent} echoes lost (none within ${drainMs} ms)`);
    return {
      echoes: this.#echoes,
      measuredMs: this.#measuredMs,
      latencies: this.#latencies.toArray(),
      sent: this.#sent,
      received: this.#received,
    };
  }

  /** An echo arrived on `connection`. */
  message(connection: Connection, opcode: number, payload: Buffer): void {
    const flow = this.#flows.get(connection.id);
    if (flow === undefined) return this.#violation(`a message on connection ${connection.id}, which is not under load`);
    const seq = flow.expected++;
    if (seq >= flow.sent) return this.#violation(`connection ${connection.id}: an echo of a message never sent`);
    const wrong = this.#payloads.check(connection.id, seq, opcode, payload);
    if (wrong !== null) {
      this.#violation(`connection ${connection.id}: ${wrong}`);
      // Resynchronize on the frame's own number, so one lost frame is one report, not one per frame after it.
      const claimed = sequenceOf(payload);
      if (claimed > seq && claimed < flow.sent) flow.expected = claimed + 1;
    }
    this.#received++;
    if (this.#measuring) {
      this.#latencies.push(performance.now() - flow.times[seq % flow.times.length]!);
      this.#echoes++;
    }
    if (this.#sending) this.#send(flow);
    else this.#checkDone();
  }

  #send(flow: Flow): void {
    const seq = flow.sent++;
    flow.times[seq % flow.times.length] = performance.now();
    flow.connection.send(this.#payloads.frame(flow.connection.id, seq));
    this.#sent++;
  }

  #checkDone(): void {
    if (!this.#sending && this.#received === this.#sent) this.#done?.();
  }
}

/** A growable array of doubles. */
class Samples {
  #data = new Float64Array(1 << 16);
  #length = 0;

  push(value: number): void {
    if (this.#length === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#length++] = value;
  }

  toArray(): Float64Array {
    return this.#data.slice(0, this.#length);
  }
}
