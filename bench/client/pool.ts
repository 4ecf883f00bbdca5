/**
 * The load client as the orchestrator sees it: worker threads (two by
 * default, so that the client is not the bottleneck), each with its share of
 * the connections, driven in step. Any integrity violation a worker reports
 * rejects with `IntegrityError`.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Command, EchoCommand, EchoReport, FanoutReport, HeldReport, Reply, TimedReport } from './protocol';

/** Echo results of all workers together. */
export interface EchoTotals {
  /** Echo round trips per second inside the measured window. */
  readonly rate: number;
  readonly echoes: number;
  /** Round-trip times, ms, sorted. */
  readonly latencies: Float64Array;
  readonly sent: number;
}

/** The servers' echoes were lost, corrupted, reordered, or of the wrong kind. */
export class IntegrityError extends Error {
  readonly violations: readonly string[];
  constructor(violations: readonly string[]) {
    super(`integrity check failed:\n  ${violations.join('\n  ')}`);
    this.violations = violations;
  }
}

export class LoadClient {
  readonly #workers: Worker[];

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  static async start(threads = 2): Promise<LoadClient> {
    const workers = Array.from({ length: threads }, () => new Worker(join(__dirname, 'worker.js')));
    await Promise.all(workers.map((w) => new Promise((resolve, reject) => w.once('online', resolve).once('error', reject))));
    return new LoadClient(workers);
  }

  /** Opens `count` more connections (ids from `firstId`), split across the workers, `parallel` at a time in all. */
  async connect(port: number, count: number, parallel: number, firstId = 0): Promise<TimedReport> {
    const shares = split(count, this.#workers.length);
    const lanes = Math.max(1, Math.ceil(parallel / this.#workers.length));
    let id = firstId;
    const started = performance.now();
    await this.#all((i) => {
      const command: Command = { type: 'connect', port, firstId: id, count: shares[i]!, parallel: lanes };
      id += shares[i]!;
      return command;
    });
    return { count, ms: performance.now() - started };
  }

  /** Echo load on every held connection; all workers start together. */
  async echo(command: Omit<EchoCommand, 'type'>): Promise<EchoTotals> {
    const reports = await this.#all<EchoReport>(() => ({ type: 'echo', ...command }));
    const latencies = new Float64Array(reports.reduce((n, r) => n + r.latencies.length, 0));
    let at = 0;
    for (const r of reports) {
      latencies.set(r.latencies, at);
      at += r.latencies.length;
    }
    latencies.sort();
    return {
      rate: reports.reduce((sum, r) => sum + (r.measuredMs > 0 ? (r.echoes * 1000) / r.measuredMs : 0), 0),
      echoes: reports.reduce((sum, r) => sum + r.echoes, 0),
      latencies,
      sent: reports.reduce((sum, r) => sum + r.sent, 0),
    };
  }

  /** Opens and cleanly closes `count` connections, `parallel` in flight in all; returns opens per second. */
  async handshakes(port: number, count: number, parallel: number): Promise<number> {
    const shares = split(count, this.#workers.length);
    const lanes = Math.max(1, Math.ceil(parallel / this.#workers.length));
    const started = performance.now();
    await this.#all((i) => ({ type: 'handshakes', port, count: shares[i]!, parallel: lanes }));
    return (count * 1000) / (performance.now() - started);
  }

  /** Fan-out: every held connection expects the text messages `firstSeq`, `firstSeq + 1`, … of `size` bytes, once each and in order. */
  async fanoutStart(firstSeq: number, size: number): Promise<void> {
    await this.#all(() => ({ type: 'fanout-start', firstSeq, size }));
  }

  /** Resolves once every held connection has fan-out message `seq`: process.hrtime.bigint() at the last delivery, and how many there were. */
  async fanoutWait(seq: number, timeoutMs: number): Promise<FanoutReport> {
    const reports = await this.#all<FanoutReport>(() => ({ type: 'fanout-wait', seq, timeoutMs }));
    return {
      last: reports.reduce((max, r) => (r.last > max ? r.last : max), 0n),
      deliveries: reports.reduce((n, r) => n + r.deliveries, 0),
    };
  }

  /** Closes every held connection: cleanly, or by dropping them (`destroy`). */
  async close(destroy = false): Promise<void> {
    await this.#all(() => ({ type: 'close', destroy }));
  }

  /** Connections still held and pings received, over all workers. */
  async held(): Promise<HeldReport> {
    const reports = await this.#all<HeldReport>(() => ({ type: 'stats' }));
    return {
      connections: reports.reduce((n, r) => n + r.connections, 0),
      pings: reports.reduce((n, r) => n + r.pings, 0),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  /** Sends each worker its command and gathers the replies; violations and errors reject. */
  async #all<T>(command: (worker: number) => Command): Promise<T[]> {
    const replies = await Promise.all(this.#workers.map((w, i) => request<T>(w, command(i))));
    const violations = replies.flatMap((r) => r.violations);
    if (violations.length > 0) throw new IntegrityError(violations);
    const failed = replies.find((r) => !r.ok);
    if (failed !== undefined) throw new Error(`load client worker failed: ${failed.error}`);
    return replies.map((r) => r.result as T);
  }
}

function request<T>(worker: Worker, command: Command): Promise<Reply<T>> {
  return new Promise<Reply<T>>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    worker.once('error', onError);
    worker.once('message', (reply: Reply<T>) => {
      worker.removeListener('error', onError);
      resolve(reply);
    });
    worker.postMessage(command);
  });
}

function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}
