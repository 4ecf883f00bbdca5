import type { PerMessageDeflateOptions } from 'ws';
import { describe, InvalidArgumentError } from '../errors';
import { ensure, expectBoolean, expectInteger, expectObject } from '../validation';

/**
 * permessage-deflate (RFC 7692), as `ws` does it: these options go to `ws`
 * as they are, checked first. `true` takes `ws`'s defaults (both sides keep
 * their compression context, 15-bit windows, messages under 1 KiB sent as
 * they are, 10 zlib jobs at once per process).
 */
export interface DeflateOptions {
  /**
   * The server resets its compressor after each message (its messages do
   * not refer to earlier ones). Compresses less, but lets a broadcast
   * (`prepare()`, `hub.publish`) compress a message once for every socket.
   * @default false
   */
  readonly serverNoContextTakeover?: boolean;
  /** The client resets its compressor after each message. @default false */
  readonly clientNoContextTakeover?: boolean;
  /** Largest window (8–15 bits) the server compresses with; on `serve()`, `true` lets the client choose (on `connect()`, a number or `false`). @default 15 */
  readonly serverMaxWindowBits?: number | boolean;
  /** Largest window (8–15 bits) the client compresses with; `true` offers the parameter without a value. @default 15 */
  readonly clientMaxWindowBits?: number | boolean;
  /** Messages shorter than this many bytes go uncompressed (only where the sender resets its context after each message). @default 1024 */
  readonly threshold?: number;
  /** zlib jobs (compressing or inflating) at once, in the whole process: the rest wait their turn. @default 10 */
  readonly concurrencyLimit?: number;
  /** Options of the compressor (`level` 0–9, `memLevel` 1–9, `strategy` 0–4, `chunkSize`). */
  readonly zlibDeflateOptions?: ZlibTuning;
  /** Options of the decompressor (`chunkSize`). */
  readonly zlibInflateOptions?: Pick<ZlibTuning, 'chunkSize'>;
}

/** The zlib options rxjs-ws passes to `ws` (its window comes from the negotiation). */
export interface ZlibTuning {
  /** Compression level, 0 (none) to 9 (smallest), -1 for zlib's default (6). */
  readonly level?: number;
  /** Memory of the compressor's state, 1 (least) to 9; zlib's default is 8 (128 KiB). */
  readonly memLevel?: number;
  /** zlib's strategy constant (0–4). */
  readonly strategy?: number;
  /** Size of zlib's output chunks, in bytes (64 or more). */
  readonly chunkSize?: number;
}

const BOOLEANS = ['serverNoContextTakeover', 'clientNoContextTakeover'] as const;
const WINDOWS = ['serverMaxWindowBits', 'clientMaxWindowBits'] as const;
const KNOWN = new Set<string>([...BOOLEANS, ...WINDOWS, 'threshold', 'concurrencyLimit', 'zlibDeflateOptions', 'zlibInflateOptions']);
const ZLIB_RANGES: Readonly<Record<keyof ZlibTuning, readonly [number, number]>> = {
  level: [-1, 9],
  memLevel: [1, 9],
  strategy: [0, 4],
  chunkSize: [64, 2 ** 31 - 1],
};

/**
 * @internal Validates a `perMessageDeflate` option once: `false` (or not
 * given) turns it off, `true` takes `ws`'s defaults, an object is checked
 * field by field and handed to `ws` as a fresh object (every socket of a
 * server shares it: a prepared frame compresses once for all of them).
 * A bad value throws `InvalidArgumentError` here, where `ws` would throw it
 * at each handshake.
 */
export function resolveDeflate(value: unknown, side: 'server' | 'client', name = 'perMessageDeflate'): PerMessageDeflateOptions | false {
  if (value === undefined || value === false) return false;
  if (value === true) return {};
  ensure(name, value, typeof value === 'object' && value !== null && !Array.isArray(value), 'a boolean or an object');
  const o = value as Record<string, unknown>;
  const unknown = Object.keys(o).filter((key) => !KNOWN.has(key));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(`Unknown \`${name}\` option(s) ${unknown.map((k) => `\`${k}\``).join(', ')}; known: ${[...KNOWN].join(', ')}`);
  }
  const out: Record<string, unknown> = {};
  for (const key of BOOLEANS) if (o[key] !== undefined) out[key] = expectBoolean(`${name}.${key}`, o[key]);
  for (const key of WINDOWS) {
    const bits = o[key];
    if (bits === undefined) continue;
    // A client's offer of server_max_window_bits must carry a value (RFC 7692 §7.1.2.1): a server refuses it with 400.
    ensure(`${name}.${key}`, bits, !(bits === true && side === 'client' && key === 'serverMaxWindowBits'), 'an integer in [8, 15] or false on connect()');
    out[key] = typeof bits === 'boolean' ? bits : expectInteger(`${name}.${key}`, bits, 8, 15);
  }
  if (o.threshold !== undefined) out.threshold = expectInteger(`${name}.threshold`, o.threshold, 0);
  if (o.concurrencyLimit !== undefined) out.concurrencyLimit = expectInteger(`${name}.concurrencyLimit`, o.concurrencyLimit, 1);
  if (o.zlibDeflateOptions !== undefined) out.zlibDeflateOptions = zlibOptions(`${name}.zlibDeflateOptions`, o.zlibDeflateOptions, ['level', 'memLevel', 'strategy', 'chunkSize']);
  if (o.zlibInflateOptions !== undefined) out.zlibInflateOptions = zlibOptions(`${name}.zlibInflateOptions`, o.zlibInflateOptions, ['chunkSize']);
  return Object.freeze(out) as PerMessageDeflateOptions;
}

function zlibOptions(name: string, value: unknown, allowed: readonly (keyof ZlibTuning)[]): ZlibTuning {
  const o = expectObject(name, value);
  const out: Record<string, number> = {};
  for (const [key, v] of Object.entries(o)) {
    if (!(allowed as readonly string[]).includes(key)) {
      throw new InvalidArgumentError(`Unknown \`${name}\` option \`${key}\` (got ${describe(v)}); known: ${allowed.join(', ')} (the window comes from the negotiation)`);
    }
    if (v === undefined) continue;
    const [min, max] = ZLIB_RANGES[key as keyof ZlibTuning];
    out[key] = expectInteger(`${name}.${key}`, v, min, max);
  }
  return Object.freeze(out);
}
