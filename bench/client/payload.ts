/**
 * The echo payloads and their integrity check. Each payload is
 * `<connection>:<sequence>:` followed by a fixed filler up to `size` bytes, so
 * an echo identifies itself: a lost, reordered, duplicated or corrupted frame
 * is told apart from the expected one byte for byte.
 */
import { headerLength, MASK, Opcode, writeHeader } from './frames';

/** Shortest payload: room for the `<connection>:<sequence>:` prefix. */
export const MIN_PAYLOAD = 32;

export class Payloads {
  readonly size: number;
  readonly opcode: number;
  readonly #filler: Buffer;
  /** The filler pre-masked for each alignment of its first byte (prefix length mod 4). */
  readonly #masked: readonly Buffer[];
  readonly #header: number;

  constructor(size: number, binary: boolean) {
    if (!Number.isInteger(size) || size < MIN_PAYLOAD) throw new RangeError(`payload size must be an integer >= ${MIN_PAYLOAD}, got ${size}`);
    this.size = size;
    this.opcode = binary ? Opcode.BINARY : Opcode.TEXT;
    // Text: printable ASCII (valid UTF-8); binary: every byte value, so a text/binary mix-up shows.
    this.#filler = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) this.#filler[i] = binary ? (i * 31 + 7) & 0xff : 0x21 + ((i * 7) % 94);
    this.#masked = [0, 1, 2, 3].map((align) => {
      const out = Buffer.allocUnsafe(size);
      for (let i = 0; i < size; i++) out[i] = this.#filler[i]! ^ MASK[(align + i) & 3]!;
      return out;
    });
    this.#header = headerLength(size);
  }

  /**
   * The frame for message `seq` of connection `conn`, as the chunks to write:
   * one buffer for small payloads, else the head and a view of the pre-masked filler.
   */
  frame(conn: number, seq: number): Buffer[] {
    const prefix = `${conn}:${seq}:`;
    const rest = this.size - prefix.length;
    const small = this.size <= 1024;
    const head = Buffer.allocUnsafe(this.#header + prefix.length + (small ? rest : 0));
    const at = writeHeader(head, 0, this.opcode, this.size);
    for (let i = 0; i < prefix.length; i++) head[at + i] = prefix.charCodeAt(i) ^ MASK[i & 3]!;
    const filler = this.#masked[prefix.length & 3]!;
    if (small) {
      filler.copy(head, at + prefix.length, 0, rest);
      return [head];
    }
    return [head, filler.subarray(0, rest)];
  }

  /** Why `payload` (with `opcode`) is not echo `seq` of `conn`, or `null` when it is exactly that. */
  check(conn: number, seq: number, opcode: number, payload: Buffer): string | null {
    const prefix = `${conn}:${seq}:`;
    const ok =
      opcode === this.opcode &&
      payload.length === this.size &&
      payload.toString('latin1', 0, prefix.length) === prefix &&
      payload.compare(this.#filler, 0, this.size - prefix.length, prefix.length, this.size) === 0;
    if (ok) return null;
    if (opcode !== this.opcode) return `expected a ${kind(this.opcode)} frame, got ${kind(opcode)} (${payload.length} B)`;
    const got = payload.toString('latin1', 0, Math.min(payload.length, 24));
    const id = /^(\d+):(\d+):/.exec(got);
    if (payload.length !== this.size) return `expected ${prefix} of ${this.size} B, got ${payload.length} B starting ${JSON.stringify(got)}`;
    if (id === null) return `expected ${prefix}, got a corrupted payload starting ${JSON.stringify(got)}`;
    if (Number(id[1]) !== conn) return `expected ${prefix}, got a frame of connection ${id[1]}`;
    if (Number(id[2]) !== seq) return `expected ${prefix}, got sequence ${id[2]} (${Number(id[2]) > seq ? 'lost' : 'duplicated or reordered'})`;
    return `${prefix}: payload corrupted after the prefix`;
  }
}

/** The sequence number a payload claims, or -1 when it has none. */
export function sequenceOf(payload: Buffer): number {
  const id = /^\d+:(\d+):/.exec(payload.toString('latin1', 0, Math.min(payload.length, 24)));
  return id === null ? -1 : Number(id[1]);
}

function kind(opcode: number): string {
  return opcode === Opcode.TEXT ? 'text' : opcode === Opcode.BINARY ? 'binary' : `opcode ${opcode}`;
}

/** The fan-out message `seq` as text of `size` bytes (ASCII): the number, zero-padded to 8 digits, then filler. */
export function fanoutText(seq: number, size: number): string {
  return String(seq).padStart(8, '0').padEnd(size, '.');
}
