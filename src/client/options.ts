import { asyncScheduler, type SchedulerLike } from 'rxjs';
import type { ClientOptions, WebSocket } from 'ws';
import { CloseCode, Defaults, readLimits } from '../constants';
import { describe, HandshakeError, HeartbeatTimeoutError, InvalidArgumentError, type OutboundPolicy } from '../errors';
import { resolveHeartbeat, type HeartbeatOptions, type ResolvedHeartbeat } from '../socket/heartbeat';
import { resolveBackoff, type BackoffConfig, type ResolvedBackoff } from '../operators/backoff';
import { resolveOutbound, type OutboundOptions, type ResolvedOutbound } from '../socket/outbound';
import type { CloseInfo } from '../socket/types';
import { expectFunction, expectInteger, expectObject } from '../validation';

/** A `ws`-compatible WebSocket constructor: `ws`'s own `WebSocket`, a subclass, or a test fake. */
export type WebSocketFactory = new (url: string, protocols: string[], options: ClientOptions) => WebSocket;

/** What `shouldReconnect` is asked about: why the last connection ended, and which retry this would be. */
export interface ReconnectInfo {
  /** How the connection closed (1006 when it never opened). */
  readonly close?: CloseInfo;
  /**
   * What that connection's `messages$` failed with: `HandshakeError`,
   * `HeartbeatTimeoutError`, or `SocketCloseError` (the `ws` or network error,
   * e.g. `ECONNREFUSED`, is its `cause`). Absent after a normal close (1000, 1001, 1005).
   */
  readonly error?: unknown;
  /** The retry this would be, counting from 1 since the last successful open. */
  readonly attempt: number;
}

/** The offline queue: frames offered while no connection is open. */
export interface OfflineOptions extends Pick<OutboundOptions, 'maxBytes' | 'maxMessages'> {
  /**
   * What to do with a frame that does not fit: `buffer` and `error` refuse it
   * (`BackpressureError`), `drop-oldest` discards the oldest queued frames,
   * `drop-newest` discards this one. (`close` does not apply: there is no
   * connection to close.)
   * @default 'buffer'
   */
  readonly policy?: Exclude<OutboundPolicy, 'close'>;
}

/**
 * Options of `connect()`. Everything not listed here (TLS: `ca`, `cert`,
 * `key`, `pfx`, `passphrase`, `rejectUnauthorized`, `servername`; `origin`,
 * `agent`, `followRedirects`…) goes to `ws`'s `WebSocket` constructor as is.
 */
export interface ConnectOptions extends Omit<ClientOptions, 'protocol' | 'host'> {
  /** Subprotocols to offer (`Sec-WebSocket-Protocol`). */
  readonly protocols?: string | readonly string[];
  /** Extra HTTP headers of the upgrade request (e.g. `Authorization`). */
  readonly headers?: Record<string, string>;
  /** TLS server name (SNI), when it differs from the URL's host. */
  readonly servername?: string;
  /** Time allowed for the TCP, TLS and HTTP upgrade, in ms. @default 10000 */
  readonly handshakeTimeout?: number;
  /** Largest inbound message in bytes; a bigger one closes the connection with 1009. @default 16 MiB */
  readonly maxPayload?: number;
  /** permessage-deflate; off so that what you send is what goes on the wire. @default false */
  readonly perMessageDeflate?: ClientOptions['perMessageDeflate'];
  /** How long a closing handshake may take before the connection is destroyed, in ms. @default 5000 */
  readonly closeTimeout?: number;
  /** Reconnect schedule (exponential backoff, full jitter); `false`: never reconnect. @default {} (500 ms doubling to 30 s, no limit) */
  readonly reconnect?: BackoffConfig | false;
  /** Which failures to retry. @default defaultShouldReconnect */
  readonly shouldReconnect?: (info: ReconnectInfo) => boolean;
  /** Bounds and policy of the offline queue. @default { policy: 'buffer', maxBytes: 1 MiB, maxMessages: 1024 } */
  readonly offline?: OfflineOptions;
  /** Protocol heartbeat of each connection; `false` turns it off. @default { interval: 30000, timeout: 10000 } */
  readonly heartbeat?: HeartbeatOptions | false;
  /** Flow control of each open connection (see `RxSocket`). */
  readonly outbound?: OutboundOptions;
  /**
   * Inbound frames held while `messages$` has no subscriber; past it the
   * connection stops reading. Frames of connections that ended before anyone
   * subscribed are kept up to this many as well, then discarded.
   * @default 1024
   */
  readonly inboundHold?: number;
  /** Time source of the reconnect delays and (unless it has its own) the heartbeat. @default asyncScheduler */
  readonly scheduler?: SchedulerLike;
  /** The WebSocket constructor (tests inject a fake). @default WebSocket from 'ws' */
  readonly WebSocket?: WebSocketFactory;
}

/** @internal Validated `connect()` options. */
export interface ResolvedConnect {
  readonly url: string;
  readonly protocols: string[];
  readonly ws: ClientOptions;
  readonly backoff: ResolvedBackoff | null;
  readonly shouldReconnect: (info: ReconnectInfo) => boolean;
  readonly offline: ResolvedOutbound;
  readonly heartbeat: ResolvedHeartbeat | false;
  readonly outbound: ResolvedOutbound;
  readonly inboundHold: number;
  readonly factory: WebSocketFactory | undefined;
}

/** Close codes worth another try: the server went away or is overloaded, or the network failed. */
const RETRIED_CODES: ReadonlySet<number> = new Set([
  CloseCode.GOING_AWAY,
  CloseCode.NO_STATUS,
  CloseCode.ABNORMAL,
  CloseCode.INTERNAL_ERROR,
  CloseCode.SERVICE_RESTART,
  CloseCode.TRY_AGAIN_LATER,
  1014, // Bad Gateway
]);

const URL_SCHEMES = ['ws:', 'wss:', 'http:', 'https:', 'ws+unix:'];
const OFFLINE_POLICIES = ['buffer', 'drop-oldest', 'drop-newest', 'error'];
// RFC 6455 §4.1: a subprotocol is an HTTP token.
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;

/**
 * The default `shouldReconnect`: retries network failures and handshake
 * timeouts (1006), heartbeat timeouts, `HandshakeError` 5xx and 429, and closes with
 * 1001, 1005, 1011, 1012, 1013 or 1014. Never 1000, 1002, 1003, 1007–1010,
 * application codes (3000–4999) or other `HandshakeError` 4xx.
 *
 * @example
 * // also retry the app's own "come back later" code
 * shouldReconnect: (info) => defaultShouldReconnect(info) || info.close?.code === 4000
 */
export function defaultShouldReconnect(info: ReconnectInfo): boolean {
  // 429: the server's per-address handshake rate; it says try again later, as a 5xx does.
  if (info.error instanceof HandshakeError) return info.error.status >= 500 || info.error.status === 429;
  // A certificate the client refuses will be refused again: retrying only hides the misconfiguration.
  const cause = (info.error as { cause?: { code?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME_MISMATCH|ERR_TLS/.test(cause.code)) return false;
  if (info.error instanceof HeartbeatTimeoutError) return true;
  return info.close !== undefined && RETRIED_CODES.has(info.close.code);
}

/** @internal Validates `connect()`'s arguments once, with "Expected `x` to be …" messages. */
export function resolveConnect(url: unknown, options: ConnectOptions | undefined): ResolvedConnect {
  const {
    protocols,
    reconnect,
    shouldReconnect,
    offline,
    heartbeat,
    outbound,
    inboundHold,
    scheduler,
    WebSocket: factory,
    ...ws
  } = expectObject('options', options) as ConnectOptions;
  if (factory !== undefined) expectFunction('WebSocket', factory);
  if (shouldReconnect !== undefined) expectFunction('shouldReconnect', shouldReconnect);
  const maxPayload = ws.maxPayload === undefined ? Defaults.clientMaxPayload : expectInteger('maxPayload', ws.maxPayload, 1);
  const r = reconnect === false ? false : (expectObject('reconnect', reconnect) as BackoffConfig);
  const h = heartbeat === false ? false : (expectObject('heartbeat', heartbeat) as HeartbeatOptions);
  return {
    url: resolveUrl(url),
    protocols: resolveProtocols(protocols),
    ws: {
      ...ws,
      headers: resolveHeaders(ws.headers),
      handshakeTimeout:
        ws.handshakeTimeout === undefined ? Defaults.handshakeTimeout : expectInteger('handshakeTimeout', ws.handshakeTimeout, 1),
      closeTimeout: ws.closeTimeout === undefined ? Defaults.closeTimeout : expectInteger('closeTimeout', ws.closeTimeout, 1),
      maxPayload,
      maxFragments: ws.maxFragments ?? readLimits(maxPayload).maxFragments,
      maxBufferedChunks: (ws as { maxBufferedChunks?: number }).maxBufferedChunks ?? readLimits(maxPayload).maxBufferedChunks,
      maxPendingAutoPongs: 2 * Defaults.pongBacklog,
      perMessageDeflate: resolveDeflate(ws.perMessageDeflate),
    } as ClientOptions,
    backoff: r === false ? null : renamed('reconnect', () => resolveBackoff({ ...r, scheduler: r.scheduler ?? scheduler })),
    shouldReconnect: shouldReconnect ?? defaultShouldReconnect,
    offline: resolveOffline(offline),
    heartbeat: h === false ? false : (resolveHeartbeat({ ...h, scheduler: h.scheduler ?? scheduler ?? asyncScheduler }) ?? false),
    outbound: resolveOutbound(outbound),
    inboundHold: inboundHold === undefined ? Defaults.inboundHoldMessages : expectInteger('inboundHold', inboundHold, 1),
    factory,
  };
}

function resolveUrl(url: unknown): string {
  let parsed: URL | undefined;
  try {
    parsed = url instanceof URL ? url : typeof url === 'string' ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || !URL_SCHEMES.includes(parsed.protocol) || parsed.hash !== '') {
    throw new InvalidArgumentError(`Expected \`url\` to be a ws:, wss:, http:, https: or ws+unix: URL without a fragment, got ${describe(url)}`);
  }
  return parsed.href;
}

function resolveProtocols(protocols: unknown): string[] {
  if (protocols === undefined) return [];
  const list = typeof protocols === 'string' ? [protocols] : protocols;
  const valid =
    Array.isArray(list) && list.every((p) => typeof p === 'string' && TOKEN.test(p)) && new Set(list).size === list.length;
  if (!valid) {
    throw new InvalidArgumentError(`Expected \`protocols\` to be a token or a list of distinct tokens, got ${describe(protocols)}`);
  }
  return [...(list as string[])];
}

function resolveHeaders(headers: unknown): Record<string, string> | undefined {
  if (headers === undefined) return undefined;
  const h = expectObject('headers', headers);
  for (const [name, value] of Object.entries(h)) {
    if (typeof value !== 'string') throw new InvalidArgumentError(`Expected \`headers.${name}\` to be a string, got ${describe(value)}`);
  }
  return h as Record<string, string>;
}

function resolveDeflate(deflate: unknown): ClientOptions['perMessageDeflate'] {
  if (deflate === undefined) return false;
  if (typeof deflate === 'boolean') return deflate;
  if (deflate === null || typeof deflate !== 'object' || Array.isArray(deflate)) {
    throw new InvalidArgumentError(`Expected \`perMessageDeflate\` to be a boolean or an object, got ${describe(deflate)}`);
  }
  return deflate as ClientOptions['perMessageDeflate'];
}

function resolveOffline(offline: unknown): ResolvedOutbound {
  const o = expectObject('offline', offline);
  if (o.policy !== undefined && !OFFLINE_POLICIES.includes(o.policy as string)) {
    throw new InvalidArgumentError(
      `Expected \`offline.policy\` to be one of "buffer", "drop-oldest", "drop-newest", "error" ("close" needs an open connection), got ${describe(o.policy)}`,
    );
  }
  return renamed('offline', () => resolveOutbound(o));
}

/** Runs a resolver written for another option name, and names the option the user actually gave in its errors. */
function renamed<T>(prefix: string, resolve: () => T): T {
  try {
    return resolve();
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    throw new InvalidArgumentError(error.message.replace(/^Expected `(?:outbound\.)?/, `Expected \`${prefix}.`));
  }
}
