import { isAnyArrayBuffer } from 'node:util/types';
import { InvalidFrameError } from './errors';

/**
 * A frame encoded once and written as-is to many sockets: the WebSocket
 * header and payload of an unmasked (server-to-client) frame, in one buffer.
 * Broadcasting a `PreparedFrame` to 10,000 sockets frames it once instead of
 * 10,000 times. Sockets that must frame per connection (clients, which mask;
 * sockets with permessage-deflate) send its payload the usual way.
 *
 * @example
 * const frame = prepare(JSON.stringify(update));
 * for (const socket of server.sockets) socket.next(frame);
 */
export class PreparedFrame {
  /** The whole frame: header then payload. */
  readonly bytes: Buffer;
  /** The payload alone. */
  readonly payload: Buffer;
  /** True for a binary frame, false for text. */
  readonly binary: boolean;

  /** Use `prepare()`. */
  constructor(payload: Buffer, binary: boolean) {
    this.payload = payload;
    this.binary = binary;
    this.bytes = Buffer.concat([header(binary ? 0x2 : 0x1, payload.length), payload]);
  }

  /** Bytes this frame puts on the wire. */
  get byteLength(): number {
    return this.bytes.length;
  }
}

/** @internal The error for a value that is not an outbound frame, or `undefined` when it is one. */
export function invalidFrame(frame: unknown): InvalidFrameError | undefined {
  if (typeof frame === 'string' || ArrayBuffer.isView(frame) || isAnyArrayBuffer(frame) || frame instanceof PreparedFrame) return undefined;
  const type = frame === null ? 'null' : typeof frame === 'object' ? ((frame as object).constructor?.name ?? 'object') : typeof frame;
  return new InvalidFrameError(`Expected a string or binary data (Buffer, typed array, ArrayBuffer), got ${type}`);
}

/** Encodes `frame` once for many sockets: a string as a text frame, binary data as a binary frame. */
export function prepare(frame: string | ArrayBufferView | ArrayBuffer): PreparedFrame {
  if (typeof frame === 'string') return new PreparedFrame(Buffer.from(frame), false);
  if (ArrayBuffer.isView(frame)) return new PreparedFrame(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), true);
  if (isAnyArrayBuffer(frame)) return new PreparedFrame(Buffer.from(frame), true);
  throw new InvalidFrameError(`Expected a string or binary data to prepare, got ${frame === null ? 'null' : typeof frame}`);
}

/** RFC 6455 §5.2 header of a final, unmasked frame. */
function header(opcode: number, length: number): Buffer {
  if (length < 126) return Buffer.from([0x80 | opcode, length]);
  if (length < 65536) {
    const b = Buffer.allocUnsafe(4);
    b[0] = 0x80 | opcode;
    b[1] = 126;
    b.writeUInt16BE(length, 2);
    return b;
  }
  const b = Buffer.allocUnsafe(10);
  b[0] = 0x80 | opcode;
  b[1] = 127;
  b.writeBigUInt64BE(BigInt(length), 2);
  return b;
}
