/**
 * The fan-out receiver of a load-client worker: every held connection expects
 * each broadcast message once, in order, byte for byte, and the worker notes
 * when the last of its connections got the current one. Messages may arrive
 * before the main thread asks about them: they are counted all the same.
 */
import type { Connection } from './connection';
import { Opcode } from './frames';
import { fanoutText } from './payload';
import type { FanoutReport } from './protocol';

export class FanoutRun {
  readonly #connections: ReadonlyMap<number, Connection>;
  readonly #size: number;
  readonly #violation: (why: string) => void;
  /** The next message each connection expects, by connection id. */
  readonly #next = new Map<number, number>();
  /** The message being counted: its bytes, how many connections have it, and when the last one did. */
  #seq = -1;
  #expected = Buffer.alloc(0);
  #count = 0;
  #last = 0n;
  #waiter: { readonly seq: number; readonly resolve: (report: FanoutReport) => void } | null = null;

  constructor(connections: ReadonlyMap<number, Connection>, firstSeq: number, size: number, violation: (why: string) => void) {
    this.#connections = connections;
    this.#size = size;
    this.#violation = violation;
    for (const id of connections.keys()) this.#next.set(id, firstSeq);
  }

  message(connection: Connection, opcode: number, payload: Buffer): void {
    const seq = Number(payload.toString('latin1', 0, 8));
    if (seq !== this.#seq) this.#begin(seq);
    const expected = this.#next.get(connection.id);
    this.#next.set(connection.id, seq + 1);
    if (opcode !== Opcode.TEXT || expected !== seq || !payload.equals(this.#expected)) {
      const got = JSON.stringify(payload.toString('latin1', 0, Math.min(payload.length, 24)));
      return this.#violation(`connection ${connection.id}: expected fan-out message ${expected} (${this.#size} B text), got ${payload.length} B, opcode ${opcode}, starting ${got}`);
    }
    if (++this.#count === this.#connections.size) {
      this.#last = process.hrtime.bigint();
      this.#settle();
    }
  }

  /** Resolves once every connection has message `seq`; rejects after `timeoutMs`. */
  wait(seq: number, timeoutMs: number): Promise<FanoutReport> {
    return new Promise<FanoutReport>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        const got = seq === this.#seq ? this.#count : 0;
        reject(new Error(`fan-out message ${seq}: ${got} of ${this.#connections.size} connections got it within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiter = {
        seq,
        resolve: (report) => {
          clearTimeout(timer);
          resolve(report);
        },
      };
      this.#settle();
    });
  }

  #begin(seq: number): void {
    this.#seq = seq;
    this.#expected = Buffer.from(fanoutText(seq, this.#size), 'latin1');
    this.#count = 0;
  }

  #settle(): void {
    const waiter = this.#waiter;
    if (waiter === null || waiter.seq !== this.#seq || this.#count < this.#connections.size) return;
    this.#waiter = null;
    waiter.resolve({ last: this.#last, deliveries: this.#count });
  }
}
