import { DecodeError, describe, EncodeError, InvalidArgumentError } from '../errors';
import type { Message } from '../types';
import { expectObject, expectOneOf } from '../validation';

/**
 * A codec that writes text frames. `decode` sees every frame, text (`string`)
 * or binary (`Buffer`), and throws to refuse one; `encode` throws for a value
 * it cannot write. (Function properties rather than methods, so that `U` is
 * checked strictly: a `Codec<Dog>` cannot pass for a `Codec<Animal>`.)
 */
export interface TextCodec<T, U = T> {
  /** Text frames out. */
  readonly kind: 'text';
  /** A value to a text frame; throws (an `EncodeError` follows) for a value it cannot encode. */
  readonly encode: (value: U) => string;
  /** A frame to a value; throws (a `DecodeError` follows) to refuse the frame. */
  readonly decode: (frame: Message) => T;
}

/** A codec that writes binary frames (see {@link TextCodec}). */
export interface BinaryCodec<T, U = T> {
  /** Binary frames out. */
  readonly kind: 'binary';
  /** A value to a binary frame; throws (an `EncodeError` follows) for a value it cannot encode. */
  readonly encode: (value: U) => Uint8Array;
  /** A frame to a value; throws (a `DecodeError` follows) to refuse the frame. */
  readonly decode: (frame: Message) => T;
}

/**
 * Decodes inbound frames to `T` and encodes `U` to outbound frames. `kind`
 * says which frames `encode` writes, and its return type follows.
 *
 * @example
 * // a reading in 12 bytes: u32 sensor id, f64 value (DataView: the same code in Node and browsers)
 * const readings: Codec<{ sensor: number; value: number }> = {
 *   kind: 'binary',
 *   encode: ({ sensor, value }) => { const b = new Uint8Array(12); const v = new DataView(b.buffer); v.setUint32(0, sensor); v.setFloat64(4, value); return b; },
 *   decode: (f) => {
 *     if (typeof f === 'string' || f.length !== 12) throw new TypeError('Expected 12 bytes');
 *     const v = new DataView(f.buffer, f.byteOffset, f.length);
 *     return { sensor: v.getUint32(0), value: v.getFloat64(4) };
 *   },
 * };
 */
export type Codec<T, U = T> = TextCodec<T, U> | BinaryCodec<T, U>;

/** Options of {@link json}. */
export interface JsonOptions<T> {
  /**
   * What to do with a binary frame: `'reject'` it (a `DecodeError`), or read
   * it as `'utf8'` JSON (invalid UTF-8 is a `DecodeError`).
   * @default 'reject'
   */
  readonly binary?: 'reject' | 'utf8';
  /**
   * Checks each parsed value; `false` makes it a `DecodeError`. Without it,
   * `T` is whatever the peer sent: a guard is how `T` becomes true.
   */
  readonly guard?: (value: unknown) => value is T;
  /** Passed to `JSON.parse`. */
  readonly reviver?: (this: unknown, key: string, value: unknown) => unknown;
  /** Passed to `JSON.stringify`. */
  readonly replacer?: (this: unknown, key: string, value: unknown) => unknown;
}

// Fatal: invalid UTF-8 is a DecodeError, not U+FFFD the application never notices.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * JSON in text frames: values of `T` in, values of `U` out. A frame that is
 * not JSON, or fails `guard`, is a `DecodeError`; a value `JSON.stringify`
 * cannot write (a cycle, a `BigInt`, `undefined`) is an `EncodeError`.
 *
 * @example
 * const chat = typed(socket, json<ChatIn, ChatOut>({ guard: isChatIn }));
 */
export function json<T, U = T>(options: JsonOptions<T> = {}): TextCodec<T, U> {
  const o = expectObject('options', options);
  const binary = o.binary === undefined ? 'reject' : expectOneOf('options.binary', o.binary, ['reject', 'utf8'] as const);
  for (const name of ['guard', 'reviver', 'replacer'] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'function') {
      throw new InvalidArgumentError(`Expected \`options.${name}\` to be a function, got ${describe(o[name])}`);
    }
  }
  const { guard, reviver, replacer } = options;
  return {
    kind: 'text',
    encode: (value) => {
      const text = JSON.stringify(value, replacer) as string | undefined;
      if (text === undefined) throw new TypeError(`JSON cannot represent ${describe(value)}`);
      return text;
    },
    decode: (frame) => {
      let text: string;
      if (typeof frame === 'string') text = frame;
      else if (binary === 'utf8') text = utf8.decode(frame);
      else throw new TypeError('Expected a text frame: the json codec was not given `binary: "utf8"`');
      const value: unknown = JSON.parse(text, reviver);
      if (guard !== undefined && !guard(value)) throw new TypeError('The decoded value failed the guard');
      return value as T;
    },
  };
}

/** @internal Throws `InvalidArgumentError` unless `codec` looks like a {@link Codec}; returns it. */
export function expectCodec<C extends Codec<unknown, never>>(name: string, codec: C): C {
  const c = codec as unknown as Partial<Record<string, unknown>> | null;
  if (c === null || typeof c !== 'object' || typeof c.encode !== 'function' || typeof c.decode !== 'function') {
    throw new InvalidArgumentError(`Expected \`${name}\` to be a codec with encode() and decode(), got ${describe(codec)}`);
  }
  expectOneOf(`${name}.kind`, c.kind, ['text', 'binary'] as const);
  return codec;
}

/** @internal `codec.decode(frame)`, with any failure thrown as a `DecodeError` for that frame. */
export function decodeFrame<T>(codec: Codec<T, never>, frame: Message): T {
  try {
    return codec.decode(frame);
  } catch (error) {
    throw error instanceof DecodeError ? error : new DecodeError(frame, { cause: error });
  }
}

/**
 * @internal `codec.encode(value)`, with any failure thrown as an `EncodeError`;
 * also checks that the frame is of the codec's kind, so a text codec never
 * sends binary by accident (and the reverse).
 */
export function encodeValue<U>(codec: Codec<unknown, U>, value: U): string | Uint8Array {
  let frame: unknown;
  try {
    frame = codec.encode(value);
  } catch (error) {
    throw error instanceof EncodeError ? error : new EncodeError({ cause: error });
  }
  if (codec.kind === 'text' ? typeof frame !== 'string' : !ArrayBuffer.isView(frame)) {
    const wanted = codec.kind === 'text' ? 'a string' : 'a Uint8Array';
    throw new EncodeError({ cause: new TypeError(`A ${codec.kind} codec must encode to ${wanted}, got ${describe(frame)}`) });
  }
  return frame as string | Uint8Array;
}
