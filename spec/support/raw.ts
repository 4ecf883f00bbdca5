/**
 * Raw-TCP helpers for the hardening suites: a hand-made WebSocket client that
 * does the handshake itself (with any headers), writes bytes it builds by hand,
 * and parses what the server sends back frame by frame; and a raw HTTP
 * exchange that records the whole response and who closed the connection.
 *
 * spec/support/net.ts has the basic `rawClient`/`frame`/`parseFrames`; these
 * add flags, lengths and masks under the test's control, and the timings.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { opened, parseServerFrames, type ServerFrame } from './net';

export { parseServerFrames, type ServerFrame };

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Fields of one frame to encode; everything a peer may get wrong is settable. */
export interface FrameSpec {
  readonly opcode: number;
  readonly payload?: Buffer | string;
  readonly fin?: boolean;
  /** RSV bits as a 3-bit number: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  readonly rsv?: number;
  /** Four mask bytes, or `null` for an unmasked frame. @default a random key */
  readonly mask?: Buffer | null;
  /** Length put in the header instead of the payload's (a lying header). */
  readonly length?: number | bigint;
  /** Force the 7-, 16- or 64-bit length encoding (non-minimal encodings are legal). */
  readonly lengthEncoding?: 7 | 16 | 64;
}

/** Encodes a client frame exactly as specified (nothing is corrected). */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const fin = spec.fin ?? true;
  const rsv = spec.rsv ?? 0;
  const mask = spec.mask === undefined ? randomBytes(4) : spec.mask;
  const length = BigInt(spec.length ?? payload.length);
  const encoding = spec.lengthEncoding ?? (length < 126n ? 7 : length < 65536n ? 16 : 64);
  const maskBit = mask === null ? 0 : 0x80;
  const parts: Buffer[] = [Buffer.from([(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (spec.opcode & 0x0f)])];
  if (encoding === 7) parts.push(Buffer.from([maskBit | Number(length & 0x7fn)]));
  else if (encoding === 16) {
    const b = Buffer.alloc(3);
    b[0] = maskBit | 126;
    b.writeUInt16BE(Number(length & 0xffffn), 1);
    parts.push(b);
  } else {
    const b = Buffer.alloc(9);
    b[0] = maskBit | 127;
    b.writeBigUInt64BE(BigInt.asUintN(64, length), 1);
    parts.push(b);
  }
  if (mask === null) parts.push(payload);
  else {
    const masked = Buffer.alloc(payload.length);
    for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
    parts.push(mask, masked);
  }
  return Buffer.concat(parts);
}

/** A close frame's payload: the code (2 bytes) and the reason. */
export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code, 0);
  return Buffer.concat([b, typeof reason === 'string' ? Buffer.from(reason) : reason]);
}

/** The close code in a close frame's payload, or `null` for an empty close frame. */
export function closeCodeOf(frame: ServerFrame): number | null {
  return frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : null;
}

/** Codes an endpoint may put on the wire (RFC 6455 §7.4 and the IANA registry). */
export function isValidWireCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** Polls `predicate` until it holds; rejects with `what` after `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 5000, everyMs = 5): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export interface RawOptions {
  readonly path?: string;
  /** Extra header lines, each without CRLF. */
  readonly headers?: readonly string[];
  /** Source address (any 127.x.y.z works on Linux loopback). */
  readonly localAddress?: string;
  /** Bytes written right after the request headers, in the same write (pipelined frames). */
  readonly pipelined?: Buffer;
}

/**
 * A WebSocket client made by hand over TCP. It records every byte and frame
 * the server sends, when the server ended its side (FIN), and when the
 * connection closed.
 */
export class RawWs {
  /** Frames the server sent, in order. */
  readonly frames: ServerFrame[] = [];
  /** When the server's FIN arrived (ms since epoch), or null. */
  endedAt: number | null = null;
  /** When the TCP connection was fully closed, or null. */
  closedAt: number | null = null;
  /** Socket error seen (ECONNRESET...), if any. */
  error: Error | null = null;
  #rest: Buffer = Buffer.alloc(0);
  readonly #waiters = new Set<() => void>();

  private constructor(
    readonly socket: Socket,
    /** The server's handshake response head (status line and headers). */
    readonly response: string,
    head: Buffer,
  ) {
    socket.on('data', (chunk: Buffer) => this.#feed(chunk));
    socket.on('end', () => {
      this.endedAt = Date.now();
      this.#wake();
    });
    socket.on('close', () => {
      this.closedAt = Date.now();
      this.#wake();
    });
    socket.on('error', (err) => {
      this.error = err;
      this.#wake();
    });
    if (head.length > 0) this.#feed(head);
    socket.resume();
  }

  /** Connects and does the opening handshake; rejects unless the server answers 101 with the right accept key. */
  static connect(port: number, options: RawOptions = {}): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const socket = tcpConnect({ port, host: '127.0.0.1', localAddress: options.localAddress });
      opened.sockets.add(socket);
      const key = randomBytes(16).toString('base64');
      let buffered = Buffer.alloc(0);
      const fail = (err: Error) => {
        socket.destroy();
        reject(err);
      };
      socket.once('error', fail);
      socket.once('connect', () => {
        const lines = [
          `GET ${options.path ?? '/ws'} HTTP/1.1`,
          `Host: 127.0.0.1:${port}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Key: ${key}`,
          'Sec-WebSocket-Version: 13',
          ...(options.headers ?? []),
        ];
        socket.write(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), options.pipelined ?? Buffer.alloc(0)]));
      });
      const onData = (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        socket.removeListener('data', onData);
        socket.removeListener('error', fail);
        socket.pause();
        const response = buffered.subarray(0, end).toString('latin1');
        if (!/^HTTP\/1\.1 101 /.test(response)) return fail(new Error(`handshake refused: ${response.split('\r\n')[0]}`));
        const accept = createHash('sha1').update(key + GUID).digest('base64');
        if (!response.includes(`Sec-WebSocket-Accept: ${accept}`)) return fail(new Error(`bad Sec-WebSocket-Accept in\n${response}`));
        resolve(new RawWs(socket, response, buffered.subarray(end + 4)));
      };
      socket.on('data', onData);
      socket.once('close', () => reject(new Error('closed during the handshake')));
    });
  }

  /** Writes bytes; resolves once they are handed to the kernel (never rejects: the server may already be gone). */
  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || !this.socket.writable) return resolve();
      this.socket.write(bytes, () => resolve());
    });
  }

  /** The first close frame the server sent, if any. */
  get closeFrame(): ServerFrame | undefined {
    return this.frames.find((f) => f.opcode === 0x8);
  }

  /** Data frames (text, binary, continuation) the server sent. */
  get dataFrames(): ServerFrame[] {
    return this.frames.filter((f) => f.opcode < 0x8);
  }

  /** Bytes received after the last complete frame. */
  get trailing(): Buffer {
    return this.#rest;
  }

  /** Resolves when `predicate` holds (checked on every event); rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; frames: ${JSON.stringify(this.summary())}`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Frames as short strings, for failure messages. */
  summary(): string[] {
    return this.frames.map((f) =>
      f.opcode === 8 ? `close(${closeCodeOf(f)}, ${JSON.stringify(f.payload.subarray(2).toString())})` : `op${f.opcode}[${f.payload.length}]`,
    );
  }

  /** Destroys the connection from our side. */
  destroy(): void {
    this.socket.destroy();
  }

  #feed(chunk: Buffer): void {
    const { frames, rest } = parseServerFrames(Buffer.concat([this.#rest, chunk]));
    this.#rest = Buffer.from(rest);
    this.frames.push(...frames);
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** What a raw HTTP exchange got back. */
export interface RawReply {
  /** Everything the server sent. */
  readonly raw: Buffer;
  /** Status code of the first response line, or 0 if there was none. */
  readonly status: number;
  /** Header lines (lowercased names). */
  readonly headers: Record<string, string>;
  /** Body after the first blank line. */
  readonly body: Buffer;
  /** ms from the first byte written to the server ending the connection. */
  readonly closedAfterMs: number;
  /** True if the connection was ended or reset by the server (not by our timeout). */
  readonly closedByServer: boolean;
}

/**
 * Sends `chunks` (each after `gapMs`) on a fresh TCP connection and records
 * everything until the server closes it, or `timeoutMs` passes.
 */
export function rawExchange(
  port: number,
  chunks: readonly (Buffer | string)[],
  { gapMs = 0, timeoutMs = 5000, localAddress }: { gapMs?: number; timeoutMs?: number; localAddress?: string } = {},
): Promise<RawReply> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ port, host: '127.0.0.1', localAddress });
    opened.sockets.add(socket);
    const received: Buffer[] = [];
    let started = 0;
    let byServer = false;
    let timer: NodeJS.Timeout | undefined;
    const pending: NodeJS.Timeout[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => (byServer = true)); // ECONNRESET: the server reset it
    socket.on('end', () => (byServer = true));
    socket.once('close', () => {
      clearTimeout(timer);
      for (const p of pending) clearTimeout(p);
      const raw = Buffer.concat(received);
      const end = raw.indexOf('\r\n\r\n');
      const head = (end === -1 ? raw : raw.subarray(0, end)).toString('latin1');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
      resolve({
        raw,
        status: status ? Number(status[1]) : 0,
        headers,
        body: end === -1 ? Buffer.alloc(0) : raw.subarray(end + 4),
        closedAfterMs: Date.now() - started,
        closedByServer: byServer,
      });
    });
    socket.once('connect', () => {
      started = Date.now();
      timer = setTimeout(() => socket.destroy(), timeoutMs);
      chunks.forEach((chunk, i) => {
        if (i === 0 || gapMs === 0) socket.write(chunk);
        else pending.push(setTimeout(() => socket.writable && socket.write(chunk), i * gapMs));
      });
    });
  });
}

/**
 * The real `process`. Jest hands each test file a copy of it, and listeners
 * added to the copy never fire; a function made by a core module's `Function`
 * constructor runs in the main realm and sees the real one.
 */
export const realProcess = new (readFileSync.constructor as FunctionConstructor)('return process')() as NodeJS.Process;

/**
 * Records every uncaught exception and unhandled rejection while this test
 * file runs (on the real process), and fails the test during which one
 * fired. Call it at the top of a test file.
 */
export function trapEscapes(): { kind: string; error: unknown }[] {
  const escaped: { kind: string; error: unknown }[] = [];
  const onUncaught = (error: unknown) => escaped.push({ kind: 'uncaughtException', error });
  const onRejection = (error: unknown) => escaped.push({ kind: 'unhandledRejection', error });
  beforeAll(() => {
    realProcess.on('uncaughtException', onUncaught);
    realProcess.on('unhandledRejection', onRejection);
  });
  afterEach(() => {
    const seen = escaped.splice(0).map(({ kind, error }) => `${kind}: ${error instanceof Error ? error.stack : String(error)}`);
    expect(seen).toEqual([]);
  });
  afterAll(async () => {
    await new Promise((resolve) => setTimeout(resolve, 20)); // what the last cleanup let loose
    realProcess.removeListener('uncaughtException', onUncaught);
    realProcess.removeListener('unhandledRejection', onRejection);
    expect(escaped.map(({ kind, error }) => `${kind}: ${String(error)}`)).toEqual([]);
  });
  return escaped;
}
