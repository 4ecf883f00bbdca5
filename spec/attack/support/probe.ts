/**
 * The well-behaved client of the attack suites: a `ws` client from its own
 * loopback address that sends a small text message every `everyMs` whatever
 * happened to the previous one (open loop: a stall shows as many late
 * echoes, not as one), and records each echo's latency.
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { percentile, sleep } from './measure';

/** The probe's source address: no attacker uses it, so no per-address limit counts it with them. */
export const PROBE_ADDRESS = '127.0.0.254';

export interface ProbeFigures {
  readonly sent: number;
  readonly echoed: number;
  /** Sent in the window and never echoed (by the end of `settle`). */
  readonly lost: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** This (the test) process's own event-loop delay at p99 since `startWindow()`, in ms: how much of the latency is ours. */
  readonly ownLagP99: number;
}

export class Probe {
  readonly #ws: WebSocket;
  /** Send time of each message, by sequence number; latency once echoed. */
  readonly #sentAt: number[] = [];
  readonly #latency: (number | undefined)[] = [];
  readonly #lag: IntervalHistogram;
  #timer: NodeJS.Timeout | null = null;
  #closed: { code: number; reason: string } | null = null;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.#lag = monitorEventLoopDelay({ resolution: 10 });
    ws.on('message', (data, isBinary) => {
      const text = String(data);
      if (isBinary || !text.startsWith('probe ')) return; // the echo example's "heart beat"
      const seq = Number(text.slice(6));
      const at = this.#sentAt[seq];
      if (at !== undefined && this.#latency[seq] === undefined) this.#latency[seq] = performance.now() - at;
    });
    ws.on('close', (code, reason) => (this.#closed = { code, reason: String(reason) }));
    ws.on('error', () => {}); // seen as the close
  }

  static open(url: string, everyMs = 20): Promise<Probe> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { localAddress: PROBE_ADDRESS });
      ws.once('open', () => {
        const probe = new Probe(ws);
        probe.#timer = setInterval(() => probe.#send(), everyMs);
        probe.#lag.enable();
        resolve(probe);
      });
      ws.once('error', reject);
    });
  }

  /** Sequence number of the next message. */
  get mark(): number {
    return this.#sentAt.length;
  }

  /** Starts a measuring window: returns its first sequence number, and restarts the own-lag histogram. */
  startWindow(): number {
    this.#lag.reset();
    return this.mark;
  }

  /** How the server closed the probe, if it did. */
  get closed(): { code: number; reason: string } | null {
    return this.#closed;
  }

  /** Latency figures of the messages sent from `from` to `to` (exclusive), once each had `settleMs` to come back. */
  async figures(from: number, to = this.mark, settleMs = 2000): Promise<ProbeFigures> {
    const deadline = performance.now() + settleMs;
    const pending = () => this.#latency.slice(from, to).filter((l) => l === undefined).length + Math.max(0, to - this.#latency.length);
    while (pending() > 0 && performance.now() < deadline && this.#closed === null) await sleep(10);
    const window = Array.from({ length: to - from }, (_, i) => this.#latency[from + i]);
    const echoed = window.filter((l): l is number => l !== undefined);
    // A message never echoed counts as infinitely late.
    const all = window.map((l) => l ?? Infinity);
    return {
      sent: window.length,
      echoed: echoed.length,
      lost: window.length - echoed.length,
      p50: percentile(all, 50),
      p99: percentile(all, 99),
      max: all.length === 0 ? NaN : Math.max(...all),
      ownLagP99: this.#lag.percentile(99) / 1e6,
    };
  }

  /** Sends one more message and resolves once it is echoed (or rejects after `timeoutMs`). */
  async roundTrip(timeoutMs = 5000): Promise<number> {
    const seq = this.#send();
    const deadline = performance.now() + timeoutMs;
    while (this.#latency[seq] === undefined) {
      if (performance.now() > deadline || this.#closed !== null) throw new Error(`the probe got no echo within ${timeoutMs} ms (closed: ${JSON.stringify(this.#closed)})`);
      await sleep(5);
    }
    return this.#latency[seq]!;
  }

  /** Stops sending and closes (1000), waiting for the close. */
  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#lag.disable();
    if (this.#ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.#ws.once('close', resolve));
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000);
    else this.#ws.terminate();
    const timer = setTimeout(() => this.#ws.terminate(), 2000);
    await closed;
    clearTimeout(timer);
  }

  #send(): number {
    const seq = this.#sentAt.length;
    this.#sentAt.push(performance.now());
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(`probe ${seq}`);
    return seq;
  }
}
