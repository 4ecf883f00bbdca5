/**
 * The well-behaved client of the attack suites: a `ws` client from its own
 * loopback address that sends a small text message every `everyMs` whatever
 * happened to the previous one (open loop: a stall shows as many late
 * echoes, not as one), and records each echo's latency.
 *
 * It runs in its own Node process (probe-child.js, forked with an IPC
 * channel), which does the sending and the timing: the test process runs
 * hundreds of attacker sockets, and its event-loop delay would otherwise
 * show in the probe's latency as if it were the server's. This class is the
 * test process's handle on it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** The probe's source address: no attacker uses it, so no per-address limit counts it with them. */
export const PROBE_ADDRESS = '127.0.0.254';

/** The probe's process: plain CommonJS (run by `node`, not ts-jest). */
const CHILD = join(__dirname, 'probe-child.js');

export interface ProbeFigures {
  readonly sent: number;
  readonly echoed: number;
  /** Sent in the window and never echoed (by the end of `settle`). */
  readonly lost: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /**
   * The probe's process's own event-loop delay at p99 since `startWindow()`,
   * in ms: how much of the latency is the probe's own (the machine's load),
   * not the server's. The test process's delay no longer counts.
   */
  readonly ownLagP99: number;
}

/** What the probe's process tells the parent. */
type FromChild =
  | { readonly type: 'open' }
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'sent'; readonly seq: number }
  | { readonly type: 'closed'; readonly code: number; readonly reason: string }
  | { readonly type: 'reply'; readonly id: number; readonly value?: unknown; readonly error?: string };

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
}

export class Probe {
  readonly #child: ChildProcess;
  /** Once the probe's process has exited and its stderr is closed. */
  readonly #gone: Promise<void>;
  #exited = false;
  #stderr = '';
  /** Messages the probe's process said it sent so far. */
  #mark = 0;
  #closed: { code: number; reason: string } | null = null;
  #nextId = 0;
  readonly #pending = new Map<number, Pending>();

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
    this.#gone = new Promise((resolve) =>
      child.once('close', () => {
        this.#exited = true;
        const err = new Error(`the probe's process exited${this.#stderr === '' ? '' : `:\n${this.#stderr}`}`);
        for (const { reject } of this.#pending.values()) reject(err);
        this.#pending.clear();
        resolve();
      }),
    );
    child.on('message', (message: FromChild) => {
      switch (message.type) {
        case 'sent':
          this.#mark = Math.max(this.#mark, message.seq + 1);
          break;
        case 'closed':
          this.#closed = { code: message.code, reason: message.reason };
          break;
        case 'reply': {
          const pending = this.#pending.get(message.id);
          this.#pending.delete(message.id);
          if (message.error !== undefined) pending?.reject(new Error(message.error));
          else pending?.resolve(message.value);
          break;
        }
      }
    });
    child.on('error', () => {}); // a failed send: seen as the exit
  }

  /** Starts the probe's process and resolves once it is connected and sending. */
  static async open(url: string, everyMs = 20): Promise<Probe> {
    const child = fork(CHILD, [url, String(everyMs), PROBE_ADDRESS], {
      execArgv: [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // Structured clone: the figures hold Infinity and NaN, which JSON would turn into null.
      serialization: 'advanced',
    });
    const probe = new Probe(child);
    const opened = await new Promise<FromChild | null>((resolve) => {
      child.on('message', (message: FromChild) => {
        if (message.type === 'open' || message.type === 'error') resolve(message);
      });
      void probe.#gone.then(() => resolve(null));
    });
    if (opened?.type === 'open') return probe;
    await probe.close();
    throw new Error(opened?.type === 'error' ? opened.message : `the probe's process exited before connecting:\n${probe.#stderr}`);
  }

  /**
   * Sequence number of the next message, as far as this process knows: the
   * probe's process tells each send, so this may trail it by this process's
   * event-loop delay (a message or two at the end of a busy window).
   */
  get mark(): number {
    return this.#mark;
  }

  /** Starts a measuring window: returns its first sequence number, and restarts the probe's own-lag histogram. */
  startWindow(): number {
    this.#tell({ cmd: 'startWindow' });
    return this.mark;
  }

  /** How the server closed the probe, if it did. */
  get closed(): { code: number; reason: string } | null {
    return this.#closed;
  }

  /** Latency figures of the messages sent from `from` to `to` (exclusive), once each had `settleMs` to come back. */
  figures(from: number, to = this.mark, settleMs = 2000): Promise<ProbeFigures> {
    return this.#ask({ cmd: 'figures', from, to, settleMs }) as Promise<ProbeFigures>;
  }

  /** Sends one more message and resolves once it is echoed (or rejects after `timeoutMs`). */
  roundTrip(timeoutMs = 5000): Promise<number> {
    return this.#ask({ cmd: 'roundTrip', timeoutMs }) as Promise<number>;
  }

  /** Stops sending and closes (1000), waiting for the close and for the probe's process to exit (killed after 5 s). */
  async close(): Promise<void> {
    if (this.#exited) return;
    this.#tell({ cmd: 'close' });
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
    await this.#gone;
    clearTimeout(timer);
  }

  #tell(message: object): boolean {
    if (this.#exited || !this.#child.connected) return false;
    this.#child.send(message, (err) => void err); // a failed send: seen as the exit
    return true;
  }

  #ask(message: object): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (!this.#tell({ ...message, id })) {
        this.#pending.delete(id);
        reject(new Error(`the probe's process is gone${this.#stderr === '' ? '' : `:\n${this.#stderr}`}`));
      }
    });
  }
}
