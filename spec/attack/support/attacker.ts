/**
 * The attackers: raw TCP clients made by hand. Each does the WebSocket
 * handshake itself (from any loopback address: Linux routes all of 127/8 to
 * lo), then writes whatever bytes a scenario builds, while reading and
 * recording what the server answers: the HTTP status of the handshake, the
 * close frame, pongs, and how the connection ended.
 */
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import { frame, parseServerFrames } from '../../support/net';

export { frame };

export interface AttackerOptions {
  /** Source address, e.g. 127.0.0.2. @default the kernel's choice (127.0.0.1) */
  readonly localAddress?: string;
  readonly path?: string;
  /** Turn Nagle off, so each write leaves as its own TCP segment. @default false */
  readonly noDelay?: boolean;
  /** Give up the handshake after this long (outcome `timeout`). @default 10000 */
  readonly timeoutMs?: number;
}

/** Every attacker made, so a scenario that fails half-way still releases them (`releaseAll`). */
const live = new Set<Attacker>();

export class Attacker {
  /** HTTP status of the handshake's answer (101 when upgraded); 0 if there was none. */
  status = 0;
  /** The close frame the server sent: its code and reason. */
  close: { code: number | null; reason: string } | null = null;
  /** Pong frames the server sent. */
  pongs = 0;
  /** Frames the server sent, of any kind. */
  frames = 0;
  /** Bytes written after the handshake. */
  sent = 0;
  /** The server ended its side (FIN). */
  ended = false;
  /** The connection is gone (either side). */
  closed = false;
  error: NodeJS.ErrnoException | null = null;
  /** When the handshake answer and the close frame came (ms since epoch). */
  upgradedAt = 0;
  closedFrameAt = 0;
  readonly socket: Socket;
  #head = Buffer.alloc(0);
  #rest = Buffer.alloc(0);
  #upgrading = true;
  #stop = false;
  /** We ended the connection (destroy, reset) before the server had answered. */
  #givenUp = false;
  readonly #waiters = new Set<() => void>();

  private constructor(socket: Socket) {
    this.socket = socket;
    live.add(this);
  }

  /** Connects and does the handshake. Never rejects: a refusal or an error is in `status`, `error` and `outcome`. */
  static connect(port: number, options: AttackerOptions = {}): Promise<Attacker> {
    const socket = tcpConnect({ port, host: '127.0.0.1', localAddress: options.localAddress, noDelay: options.noDelay ?? false });
    const attacker = new Attacker(socket);
    socket.on('data', (chunk: Buffer) => attacker.#feed(chunk));
    socket.on('end', () => {
      attacker.ended = true;
      attacker.#wake();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      attacker.error ??= err;
      attacker.#wake();
    });
    socket.on('close', () => {
      attacker.closed = true;
      live.delete(attacker);
      attacker.#wake();
    });
    socket.once('connect', () => socket.write(upgradeRequest(port, options.path)));
    const timer = setTimeout(() => {
      if (attacker.#upgrading) attacker.socket.destroy();
    }, options.timeoutMs ?? 10_000);
    return attacker.waitFor(() => !attacker.#upgrading || attacker.closed, Infinity).then(() => {
      clearTimeout(timer);
      return attacker;
    });
  }

  /** Upgraded and not closed by anyone yet. */
  get open(): boolean {
    return this.status === 101 && this.close === null && !this.closed && !this.ended;
  }

  /**
   * What the attacker got, in one word or two: `close 1008`, `http 503`,
   * `fin` (ended without a close frame), `reset`, `error ECONNREFUSED`,
   * `timeout` (no answer to the handshake), `open` (nothing yet), or
   * `nothing` (we gave up the connection before any of those).
   */
  get outcome(): string {
    if (this.#givenUp && !this.answered) return 'nothing';
    if (this.status !== 101) {
      if (this.status !== 0) return `http ${this.status}`;
      if (this.error !== null) return `error ${this.error.code ?? this.error.message}`;
      return this.closed ? 'timeout' : 'open';
    }
    if (this.close !== null) return `close ${this.close.code ?? 'empty'}`;
    if (this.error?.code === 'ECONNRESET') return 'reset';
    if (this.ended || this.closed) return 'fin';
    return 'open';
  }

  /** The close code, or an HTTP refusal: what every attacker must end with. */
  get answered(): boolean {
    return this.close !== null || (this.status !== 0 && this.status !== 101);
  }

  /** Writes bytes; resolves true once the socket took them, false if the connection is gone. */
  write(bytes: Buffer): Promise<boolean> {
    if (this.socket.destroyed || !this.socket.writable) return Promise.resolve(false);
    this.sent += bytes.length;
    if (this.socket.write(bytes)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        this.socket.removeListener('drain', done);
        this.socket.removeListener('close', done);
        resolve(!this.socket.destroyed);
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  /** Writes `chunk` again and again, as fast as TCP takes it, until `stop()` or the connection ends. */
  async flood(chunk: Buffer): Promise<void> {
    while (!this.#stop && this.open && (await this.write(chunk)));
  }

  /**
   * Like `flood()`, but self-clocked: `chunk` must end with a ping, and at
   * most `ahead` chunks go unanswered by a pong. The server gets all it can
   * parse, while little waits in the kernel's buffers (which a reset could
   * not take back): the attacker the server cannot outrun, without a
   * backlog that outlives it. Chunks go at most every `spacingMs`, so the
   * pings stay under the server's ping budget (100 a second) even when the
   * server has time for this attacker alone.
   */
  async clockedFlood(chunk: Buffer, ahead = 2, spacingMs = 20): Promise<void> {
    let pings = 0;
    let last = 0;
    const room = () => this.#stop || !this.open || pings - this.pongs < ahead;
    while (!this.#stop && this.open) {
      if (!room()) {
        await this.waitFor(room, Infinity);
        continue;
      }
      const wait = last + spacingMs - Date.now();
      if (wait > 0) {
        await new Promise((resolve) => setTimeout(resolve, wait));
        continue;
      }
      last = Date.now();
      pings++;
      if (!(await this.write(chunk))) break;
    }
  }

  /** Ends `flood()` and `clockedFlood()`. */
  stop(): void {
    this.#stop = true;
    this.#wake();
  }

  get stopped(): boolean {
    return this.#stop;
  }

  /** Resolves when `predicate` holds, checked on every event; resolves false after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<boolean> {
    if (predicate()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!predicate()) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(true);
      };
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            this.#waiters.delete(check);
            resolve(false);
          }, timeoutMs)
        : undefined;
      this.#waiters.add(check);
    });
  }

  /** Resolves once the connection is gone (destroying it after `timeoutMs`). */
  async gone(timeoutMs = 5000): Promise<void> {
    if (!(await this.waitFor(() => this.closed, timeoutMs))) {
      this.socket.destroy();
      await this.waitFor(() => this.closed, Infinity);
    }
  }

  destroy(): void {
    this.stop();
    if (!this.closed && !this.ended) this.#givenUp = true;
    this.socket.destroy();
  }

  /** Resets the connection (RST): the peer's kernel drops what it had not read yet. */
  reset(): void {
    this.stop();
    if (this.socket.destroyed) return;
    if (!this.ended) this.#givenUp = true;
    if (this.socket.readyState === 'open') this.socket.resetAndDestroy();
    else this.socket.destroy();
  }

  #feed(chunk: Buffer): void {
    if (this.#upgrading) {
      this.#head = Buffer.concat([this.#head, chunk]);
      const end = this.#head.indexOf('\r\n\r\n');
      if (end === -1) return;
      this.#upgrading = false;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(this.#head.subarray(0, end).toString('latin1'));
      this.status = status ? Number(status[1]) : 0;
      this.upgradedAt = Date.now();
      chunk = this.#head.subarray(end + 4);
      this.#head = Buffer.alloc(0);
      if (this.status !== 101) {
        this.#wake();
        return;
      }
    }
    const { frames, rest } = parseServerFrames(this.#rest.length === 0 ? chunk : Buffer.concat([this.#rest, chunk]));
    this.#rest = Buffer.from(rest);
    for (const f of frames) {
      this.frames++;
      if (f.opcode === 0xa) this.pongs++;
      if (f.opcode === 0x8 && this.close === null) {
        this.close = { code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null, reason: f.payload.subarray(2).toString() };
        this.closedFrameAt = Date.now();
      }
    }
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** A WebSocket upgrade request (with a fresh key). */
export function upgradeRequest(port: number, path = '/ws'): string {
  const key = randomBytes(16).toString('base64');
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
  );
}

/** Resets every attacker still connected and waits until their sockets are gone. */
export async function releaseAll(): Promise<void> {
  const all = [...live];
  for (const a of all) a.reset();
  await Promise.all(all.map((a) => a.waitFor(() => a.closed, Infinity)));
}

/** Opens `count` attackers, at most `concurrency` handshakes at a time. */
export async function connectMany(
  port: number,
  count: number,
  options: (i: number) => AttackerOptions = () => ({}),
  concurrency = 50,
): Promise<Attacker[]> {
  const attackers: Attacker[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        attackers[i] = await Attacker.connect(port, options(i));
      }
    }),
  );
  return attackers;
}

/** Loopback source addresses 127.0.0.`from` to 127.0.0.`to`. */
export function loopbackAddresses(from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => `127.0.0.${from + i}`);
}

/** `count` copies of `one`, in one buffer (a write of many frames at once). */
export function repeat(one: Buffer, count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, () => one));
}
