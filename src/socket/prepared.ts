import { constants, deflateRawSync } from 'node:zlib';
import { InvalidFrameError } from '../errors';
import { isAnyArrayBuffer, PREPARED, type PreparedFrameLike } from './frames';

/**
 * A frame encoded once and written as-is to many sockets: the WebSocket
 * header and payload of an unmasked (server-to-client) frame, in one buffer.
 * Broadcasting a `PreparedFrame` to 10,000 sockets frames it once instead of
 * 10,000 times. On server sockets that negotiated permessage-deflate without
 * server context takeover, it is compressed once (per window size) and that
 * copy written to each of them. Sockets that must frame per connection
 * (clients, which mask; sockets whose compressor keeps its context) send its
 * payload the usual way.
 *
 * @example
 * const frame = prepare(JSON.stringify(update));
 * for (const socket of server.sockets) socket.next(frame);
 */
export class PreparedFrame implements PreparedFrameLike {
  /** Brands prepared frames for the checks of browser-safe code, which cannot import this class. */
  readonly [PREPARED] = true;
  /** The whole frame: header then payload, in one buffer of its own. */
  readonly bytes: Buffer;
  /** The payload alone (a view into `bytes`). */
  readonly payload: Buffer;
  /** True for a binary frame, false for text. */
  readonly binary: boolean;

  /** Compressed copies made so far, by the zlib options and window they were made with (one, usually). */
  #deflated: { zlib: object | undefined; windowBits: number; bytes: Buffer }[] | null = null;

  /** Use `prepare()`. */
  constructor(bytes: Buffer, headerLength: number, binary: boolean) {
    this.bytes = bytes;
    this.payload = bytes.subarray(headerLength);
    this.binary = binary;
  }

  /**
   * @internal The frame as a socket compressing each message on its own
   * sends it (`ws`'s own way: a raw deflate stream with a fresh context,
   * sync-flushed, its empty final block dropped, RSV1 set); below the
   * threshold, the frame as it is. Made once per zlib options and window,
   * for every socket that shares them.
   */
  deflated(zlib: object | undefined, windowBits: number, threshold: number): Buffer {
    if (this.payload.length < threshold) return this.bytes;
    const list = (this.#deflated ??= []);
    for (const copy of list) if (copy.zlib === zlib && copy.windowBits === windowBits) return copy.bytes;
    const compressed = deflateRawSync(this.payload, { ...zlib, windowBits, finishFlush: constants.Z_SYNC_FLUSH });
    const body = compressed.subarray(0, compressed.length - 4); // the 00 00 ff ff of the sync flush (RFC 7692 §7.2.1)
    const bytes = framed((this.binary ? 0x2 : 0x1) | RSV1, body.length);
    bytes.set(body, bytes.length - body.length);
    list.push({ zlib, windowBits, bytes });
    return bytes;
  }

  /** Bytes this frame puts on the wire. */
  get byteLength(): number {
    return this.bytes.length;
  }
}

/**
 * Encodes `frame` once for many sockets: a string as a text frame, binary data
 * as a binary frame. The frame is a copy: changing the source afterwards does
 * not change it.
 */
export function prepare(frame: string | ArrayBufferView | ArrayBuffer): PreparedFrame {
  if (typeof frame === 'string') {
    const length = Buffer.byteLength(frame);
    const bytes = framed(0x1, length);
    bytes.write(frame, bytes.length - length);
    return new PreparedFrame(bytes, bytes.length - length, false);
  }
  let source: Uint8Array;
  if (ArrayBuffer.isView(frame)) source = new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);
  else if (isAnyArrayBuffer(frame)) source = new Uint8Array(frame);
  else throw new InvalidFrameError(`Expected a string or binary data to prepare, got ${frame === null ? 'null' : typeof frame}`);
  return prepareBytes(source, true);
}

/** @internal A frame of `payload` as it is (text frames: UTF-8 the sender already checked). */
export function prepareBytes(payload: Uint8Array, binary: boolean): PreparedFrame {
  const bytes = framed(binary ? 0x2 : 0x1, payload.length);
  bytes.set(payload, bytes.length - payload.length);
  return new PreparedFrame(bytes, bytes.length - payload.length, binary);
}

/** The RSV1 bit of a frame's first byte: a compressed message (RFC 7692 §6). */
const RSV1 = 0x40;

/** A buffer for a final, unmasked frame of `length` payload bytes, with its RFC 6455 §5.2 header written (`opcode` may carry RSV1). */
function framed(opcode: number, length: number): Buffer {
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const bytes = Buffer.allocUnsafe(head + length);
  bytes[0] = 0x80 | opcode;
  if (head === 2) bytes[1] = length;
  else if (head === 4) {
    bytes[1] = 126;
    bytes.writeUInt16BE(length, 2);
  } else {
    bytes[1] = 127;
    bytes.writeBigUInt64BE(BigInt(length), 2);
  }
  return bytes;
}
