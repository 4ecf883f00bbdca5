import { EventEmitter } from 'node:events';
import { WebSocket } from 'ws';

/** A frame the fake recorded as sent. */
export interface SentFrame {
  readonly data: string | Buffer;
  readonly binary: boolean;
}

/**
 * Something this side put on the wire: a text frame (`string`), a binary
 * frame (`Buffer`), a ping, its close frame (`reason` only when not empty),
 * or the connection destroyed without one (`terminate()`).
 */
export type WireEvent =
  | string
  | Buffer
  | { readonly ping: true }
  | { readonly close: number; readonly reason?: string }
  | { readonly terminate: true };

/** The part of a TCP socket rxjs-ws's outbound channel uses, with switchable backpressure. */
export class FakeRawSocket extends EventEmitter {
  /** Set to `true` to make the next frames queue, as if the peer read slowly. */
  writableNeedDrain = false;
  /** How many `cork()` calls wait for their `uncork()`. */
  corked = 0;
  /** Holds writes back, as `net.Socket#cork()` does. */
  cork(): void {
    this.corked++;
  }
  /** Undoes one `cork()`. */
  uncork(): void {
    if (this.corked > 0) this.corked--;
  }
  /** Set once this side has ended its half of the connection (after a close that stops listening). */
  ended = false;
  /** Does nothing: reading is paused on the `FakeWebSocket`. */
  pause(): void {}
  /** Ends this side's half of the connection. */
  end(): void {
    this.ended = true;
  }
  /** Ends backpressure and emits `'drain'`, as when the kernel took the bytes. */
  drain(): void {
    this.writableNeedDrain = false;
    this.emit('drain');
  }
}

/**
 * A stand-in for a `ws` WebSocket with no network: it records what is sent and
 * lets a test deliver frames, pings, pongs and close frames synchronously (so a
 * `TestScheduler` decides when). Enough of ws's surface for `RxSocket`.
 *
 * Like a real connection, it does not read while paused: what the peer sends
 * meanwhile (frames, pings, pongs, its close frame) waits, in order, and
 * arrives on `resume()`; `arrived()` delivers it anyway, as `ws` does with
 * what it read before the pause. A dropped connection delivers what waits,
 * then closes. Pings are answered with pongs, as `ws` does (`autoPong`).
 */
export class FakeWebSocket extends EventEmitter {
  readyState: number;
  bufferedAmount = 0;
  isPaused = false;
  readonly sent: SentFrame[] = [];
  readonly pings: Buffer[] = [];
  /** Pongs this side sent in answer to the peer's pings. */
  readonly pongs: Buffer[] = [];
  /** What the peer sent that waits while the socket is paused. */
  readonly #waiting: (() => void)[] = [];
  /** The close frame this side sent, if any. */
  closeSent: { code: number; reason: string } | null = null;
  terminated = false;
  readonly _socket = new FakeRawSocket();
  /** Called with each thing this side puts on the wire, as it happens (the test kit records them in virtual time). */
  onWire: ((event: WireEvent) => void) | null = null;

  constructor(readyState: number = WebSocket.OPEN) {
    super();
    this.readyState = readyState;
  }

  /** Completes a pending client handshake. */
  open(): void {
    this.readyState = WebSocket.OPEN;
    this.emit('open');
  }

  /** Records a frame (ignored once closing, as `ws` does). */
  send(data: unknown, options?: { binary?: boolean }): void {
    if (this.readyState !== WebSocket.OPEN) return; // like ws: silently ignored once closing
    const binary = options?.binary ?? typeof data !== 'string';
    const frame = binary ? toBuffer(data) : typeof data === 'string' ? data : toBuffer(data).toString();
    this.sent.push({ data: frame, binary });
    this.onWire?.(frame);
  }

  /** Records a ping. */
  ping(data?: unknown): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.pings.push(data === undefined ? Buffer.alloc(0) : toBuffer(data));
    this.onWire?.({ ping: true });
  }

  /** Stops reading: what the peer sends waits. */
  pause(): void {
    if (this.readyState === WebSocket.OPEN || this.readyState === WebSocket.CLOSING) this.isPaused = true;
  }

  /** Reads again: delivers what waited, in order. */
  resume(): void {
    if (this.readyState !== WebSocket.OPEN && this.readyState !== WebSocket.CLOSING) return;
    this.isPaused = false;
    this.#pump();
  }

  /** Delivers `count` of the things the peer sent while the socket was paused, even if it still is (ws parses what it read before a pause). */
  arrived(count = Infinity): void {
    for (let i = 0; i < count && this.#waiting.length > 0; i++) this.#waiting.shift()!();
  }

  /** Delivers what waits while the socket reads: a delivery may pause it again, and then the rest waits. */
  #pump(): void {
    while (!this.isPaused && this.#waiting.length > 0) this.#waiting.shift()!();
  }

  /** How many things the peer sent wait for the socket to read again. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Sends this side's close frame. */
  close(code?: number, reason?: string): void {
    if (this.readyState >= WebSocket.CLOSING) return;
    this.readyState = WebSocket.CLOSING;
    this.#sendClose(code ?? 1005, reason ?? '');
  }

  /** Destroys the connection: like ws, what was already read is still delivered, then it closes with 1006. */
  terminate(): void {
    if (this.readyState === WebSocket.CLOSED) return;
    this.terminated = true;
    this.onWire?.({ terminate: true });
    this.drop();
  }

  // ---- driven by the test ----

  /** The peer sent a text (string) or binary (Buffer) frame. */
  receive(frame: string | Buffer): void {
    this.#read(() => {
      if (this.readyState !== WebSocket.OPEN && this.readyState !== WebSocket.CLOSING) return;
      if (typeof frame === 'string') this.emit('message', Buffer.from(frame), false);
      else this.emit('message', frame, true);
    });
  }

  /** The peer sent a ping: it is answered with a pong (as ws's `autoPong` does), then emitted. */
  receivePing(data: Buffer = Buffer.alloc(0)): void {
    this.#read(() => {
      if (this.readyState !== WebSocket.OPEN) return;
      this.pongs.push(data);
      this.emit('ping', data);
    });
  }

  /** The peer answered a ping. */
  receivePong(data: Buffer = Buffer.alloc(0)): void {
    this.#read(() => this.emit('pong', data));
  }

  /** The peer's close frame arrived: the handshake finishes and the socket closes. */
  receiveClose(code = 1000, reason = ''): void {
    this.#read(() => {
      if (this.readyState === WebSocket.CLOSED) return;
      if (this.closeSent === null) this.#sendClose(code, reason); // ws answers with the peer's code
      this.#end(code, reason);
    });
  }

  /** The connection broke without a close frame (the peer vanished): what was read is delivered, then it closes. */
  drop(): void {
    if (this.readyState === WebSocket.CLOSED) return;
    this.readyState = WebSocket.CLOSING;
    while (this.#waiting.length > 0) this.#waiting.shift()!();
    if (this.readyState === WebSocket.CLOSED) return; // what waited was the peer's close frame
    this.#end(1006, '');
  }

  /** ws failed the connection for a protocol error (e.g. code `WS_ERR_INVALID_UTF8`). */
  fail(wsCode: string, message: string): void {
    if (this.readyState === WebSocket.CLOSED) return;
    const err = Object.assign(new Error(message), { code: wsCode });
    this.emit('error', err);
    this.#end(1006, '');
  }

  #read(deliver: () => void): void {
    if (!this.isPaused && this.#waiting.length === 0) return deliver();
    this.#waiting.push(deliver);
    this.#pump();
  }

  #sendClose(code: number, reason: string): void {
    this.closeSent = { code, reason };
    this.onWire?.(reason === '' ? { close: code } : { close: code, reason });
  }

  #end(code: number, reason: string): void {
    this.#waiting.length = 0;
    this.isPaused = false;
    this.readyState = WebSocket.CLOSED;
    this.emit('close', code, Buffer.from(reason));
  }
}

function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(String(data));
}
