/**
 * RFC 6455 framing for the load client: encoding of masked client frames and
 * an incremental reader of the server's (unmasked) frames. A lean client of
 * its own keeps the client's CPU per message well below the server's, so the
 * server stays the bottleneck on a 2-core machine.
 */

export const Opcode = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/**
 * The client's masking key. RFC 6455 wants a fresh key per frame; a constant
 * one lets the client pre-mask its filler once (servers cannot tell, and
 * still unmask every byte, as they would for a browser).
 */
export const MASK: Readonly<Buffer> = Buffer.from([0x5a, 0xc3, 0x96, 0x3f]);

/** Bytes of a masked client frame header carrying `length` payload bytes. */
export function headerLength(length: number): number {
  return (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + 4;
}

/** Writes a masked frame header (FIN set) at `at`; returns where the payload starts. */
export function writeHeader(target: Buffer, at: number, opcode: number, length: number): number {
  target[at] = 0x80 | opcode;
  if (length < 126) {
    target[at + 1] = 0x80 | length;
    at += 2;
  } else if (length < 0x10000) {
    target[at + 1] = 0x80 | 126;
    target.writeUInt16BE(length, at + 2);
    at += 4;
  } else {
    target[at + 1] = 0x80 | 127;
    target.writeUInt32BE(Math.floor(length / 2 ** 32), at + 2);
    target.writeUInt32BE(length >>> 0, at + 6);
    at += 10;
  }
  MASK.copy(target, at);
  return at + 4;
}

/** Copies `source` masked as payload bytes starting at payload offset `offset`. */
export function maskInto(target: Buffer, at: number, source: Buffer, offset: number): void {
  for (let i = 0; i < source.length; i++) target[at + i] = source[i]! ^ MASK[(offset + i) & 3]!;
}

/** A whole small frame (control frames, close): header and masked payload in one buffer. */
export function frame(opcode: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(headerLength(payload.length) + payload.length);
  maskInto(out, writeHeader(out, 0, opcode, payload.length), payload, 0);
  return out;
}

/** A close frame with `code`. */
export function closeFrame(code: number): Buffer {
  const payload = Buffer.allocUnsafe(2);
  payload.writeUInt16BE(code, 0);
  return frame(Opcode.CLOSE, payload);
}

/** A protocol violation by the server, as the client sees it. */
export class FrameError extends Error {}

/** Where the reader is in a frame. */
const State = { Head: 0, Length16: 1, Length64: 2, Payload: 3 } as const;
type State = (typeof State)[keyof typeof State];

const EMPTY = Buffer.alloc(0);

/** Receives a message: its opcode (of the first fragment) and its whole payload. */
export type OnMessage = (opcode: number, payload: Buffer) => void;

/** Added to a data message's opcode when its first frame had RSV1 set: compressed (permessage-deflate negotiated). */
export const COMPRESSED = 0x40;

/** Reads server frames from TCP chunks (which split and join frames anywhere). */
export class FrameReader {
  readonly #onMessage: OnMessage;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #state: State = State.Head;
  #fin = false;
  #opcode = 0;
  #length = 0;
  #fragments: Buffer[] = [];
  #fragmentOpcode = -1;
  #rsv1 = false;
  readonly #deflate: boolean;

  /** With `deflate` (permessage-deflate negotiated), RSV1 marks a compressed message: its opcode comes with `COMPRESSED` added. */
  constructor(onMessage: OnMessage, deflate = false) {
    this.#onMessage = onMessage;
    this.#deflate = deflate;
  }

  /** Adds a chunk and delivers every message it completes. Throws `FrameError`. */
  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    for (;;) {
      if (this.#state === State.Head) {
        if (this.#bytes < 2) return;
        const head = this.#consume(2);
        this.#fin = (head[0]! & 0x80) !== 0;
        this.#opcode = head[0]! & 0x0f;
        this.#rsv1 = (head[0]! & 0x40) !== 0;
        if ((head[0]! & (this.#deflate ? 0x30 : 0x70)) !== 0) throw new FrameError('RSV bits set (no extension was negotiated)');
        if ((head[1]! & 0x80) !== 0) throw new FrameError('masked frame from the server');
        const length = head[1]! & 0x7f;
        this.#length = length;
        this.#state = length === 126 ? State.Length16 : length === 127 ? State.Length64 : State.Payload;
      } else if (this.#state === State.Length16) {
        if (this.#bytes < 2) return;
        this.#length = this.#consume(2).readUInt16BE(0);
        this.#state = State.Payload;
      } else if (this.#state === State.Length64) {
        if (this.#bytes < 8) return;
        const bytes = this.#consume(8);
        this.#length = bytes.readUInt32BE(0) * 2 ** 32 + bytes.readUInt32BE(4);
        this.#state = State.Payload;
      } else {
        if (this.#bytes < this.#length) return;
        const payload = this.#consume(this.#length);
        this.#state = State.Head;
        this.#deliver(payload);
      }
    }
  }

  #deliver(payload: Buffer): void {
    const opcode = this.#opcode;
    if (opcode >= Opcode.CLOSE) {
      if (!this.#fin || payload.length > 125) throw new FrameError(`bad control frame (opcode ${opcode})`);
      return this.#onMessage(opcode, payload);
    }
    if (opcode === Opcode.CONTINUATION) {
      if (this.#fragmentOpcode < 0) throw new FrameError('continuation frame without a first fragment');
    } else if (this.#fragmentOpcode >= 0) {
      throw new FrameError('new message before the last one ended');
    } else if (this.#fin) {
      return this.#onMessage(this.#rsv1 ? opcode | COMPRESSED : opcode, payload);
    } else {
      this.#fragmentOpcode = this.#rsv1 ? opcode | COMPRESSED : opcode;
    }
    this.#fragments.push(payload);
    if (!this.#fin) return;
    const first = this.#fragmentOpcode;
    const whole = Buffer.concat(this.#fragments);
    this.#fragments = [];
    this.#fragmentOpcode = -1;
    this.#onMessage(first, whole);
  }

  /** Takes `n` buffered bytes (the caller checked they are there). */
  #consume(n: number): Buffer {
    if (n === 0) return EMPTY;
    this.#bytes -= n;
    const first = this.#chunks[0]!;
    if (n === first.length) return this.#chunks.shift()!;
    if (n < first.length) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const chunk = this.#chunks[0]!;
      const take = Math.min(chunk.length, n - at);
      chunk.copy(out, at, 0, take);
      at += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    return out;
  }
}
