import type { SchedulerLike } from 'rxjs';
import { CloseCode, Defaults } from '../constants';
import { describe, HandshakeError, HeartbeatTimeoutError, InvalidArgumentError, type OutboundPolicy } from '../errors';
import { resolveBackoff, type BackoffConfig, type ResolvedBackoff } from '../operators/backoff';
import { resolveOutbound, type OutboundOptions, type ResolvedOutbound } from '../socket/outbound-options';
import type { CloseInfo } from '../types';
import { expectFunction, expectInteger, expectObject } from '../validation';

/** What `shouldReconnect` is asked about: why the last connection ended, and which retry this would be. */
export interface ReconnectInfo {
  /** How the connection closed (1006 when it never opened). */
  readonly close?: CloseInfo;
  /**
   * What ended that connection, when it was a failure: `HandshakeError` (the
   * upgrade was refused; in a browser, which does not say why, status 0),
   * `HeartbeatTimeoutError`, or `SocketCloseError` (the network error, e.g.
   * `ECONNREFUSED`, is its `cause`). Absent after a normal close (1000, 1001, 1005).
   */
  readonly error?: unknown;
  /** The retry this would be, counting from 1 since the last connection that stayed open `minUptime`. */
  readonly attempt: number;
}

/** The offline queue: frames offered while no connection is open. */
export interface OfflineOptions extends Pick<OutboundOptions, 'maxBytes' | 'maxMessages'> {
  /**
   * What to do with a frame that does not fit: `error` refuses it
   * (`BackpressureError`), `drop-oldest` discards the oldest queued frames,
   * `drop-newest` discards this one. (`close` does not apply: there is no
   * connection to close.)
   * @default 'error'
   */
  readonly policy?: Exclude<OutboundPolicy, 'close'>;
}

/** The reconnect schedule: exponential backoff with jitter, and what counts as a connection that worked. */
export interface ReconnectOptions extends BackoffConfig {
  /**
   * How long, in ms, a connection must stay open to count as one that
   * worked: only then does the next outage start again from attempt 1. A
   * server that accepts and then closes at once does not reset the count,
   * so `maxAttempts` ends such a storm.
   * @default 5000
   */
  readonly minUptime?: number;
}

/** Options of `connect()` that mean the same in Node and in browsers. */
export interface CommonConnectOptions {
  /** Subprotocols to offer (`Sec-WebSocket-Protocol`). */
  readonly protocols?: string | readonly string[];
  /** Reconnect schedule (exponential backoff, full jitter); `false`: never reconnect. @default {} (500 ms doubling to 30 s, no limit, minUptime 5 s) */
  readonly reconnect?: ReconnectOptions | false;
  /** Which failures to retry. @default defaultShouldReconnect */
  readonly shouldReconnect?: (info: ReconnectInfo) => boolean;
  /** Bounds and policy of the offline queue. @default { policy: 'error', maxBytes: 1 MiB, maxMessages: 1024 } */
  readonly offline?: OfflineOptions;
  /** Flow control of each open connection: bounds and policy of its outbound queue. */
  readonly outbound?: OutboundOptions;
  /**
   * Inbound frames held while `messages$` has no subscriber; past it the
   * connection stops reading (Node) or drops the oldest and reports it
   * (browsers cannot stop reading). Frames of connections that ended before
   * anyone subscribed are kept up to this many as well.
   * @default 1024
   */
  readonly inboundHold?: number;
  /** Time source of the reconnect delays and (unless it has its own) the heartbeat. @default asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** @internal Validated common options. */
export interface ResolvedCommon {
  readonly protocols: string[];
  readonly backoff: (ResolvedBackoff & { readonly minUptime: number }) | null;
  readonly shouldReconnect: (info: ReconnectInfo) => boolean;
  readonly offline: ResolvedOutbound;
  readonly outbound: ResolvedOutbound;
  readonly inboundHold: number;
  readonly scheduler: SchedulerLike;
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

const OFFLINE_POLICIES = ['error', 'drop-oldest', 'drop-newest'];
// RFC 6455 §4.1: a subprotocol is an HTTP token.
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;

/**
 * The default `shouldReconnect`: retries network failures and handshake
 * timeouts (1006), heartbeat timeouts, `HandshakeError` 5xx, 429 and 0 (a
 * browser's refused upgrade, whose status it does not tell), and closes with
 * 1001, 1005, 1011, 1012, 1013 or 1014. Never 1000, 1002, 1003, 1007–1010,
 * application codes (3000–4999) or other `HandshakeError` 4xx.
 *
 * @example
 * // also retry the app's own "come back later" code
 * shouldReconnect: (info) => defaultShouldReconnect(info) || info.close?.code === 4000
 */
export function defaultShouldReconnect(info: ReconnectInfo): boolean {
  // 429: the server's per-address handshake rate; it says try again later, as a 5xx does.
  if (info.error instanceof HandshakeError) return info.error.status >= 500 || info.error.status === 429 || info.error.status === 0;
  // A certificate the client refuses will be refused again: retrying only hides the misconfiguration.
  const cause = (info.error as { cause?: { code?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME_MISMATCH|ERR_TLS/.test(cause.code)) return false;
  if (info.error instanceof HeartbeatTimeoutError) return true;
  return info.close !== undefined && RETRIED_CODES.has(info.close.code);
}

/** @internal Validates the common options once, with "Expected `x` to be …" messages. */
export function resolveCommon(options: CommonConnectOptions, defaultScheduler: SchedulerLike): ResolvedCommon {
  const { protocols, reconnect, shouldReconnect, offline, outbound, inboundHold, scheduler } = options;
  if (shouldReconnect !== undefined) expectFunction('shouldReconnect', shouldReconnect);
  const time = scheduler ?? defaultScheduler;
  const r = reconnect === false ? false : (expectObject('reconnect', reconnect) as ReconnectOptions);
  let backoff: ResolvedCommon['backoff'] = null;
  if (r !== false) {
    const { minUptime, ...config } = r;
    const uptime = minUptime === undefined ? 5_000 : expectInteger('reconnect.minUptime', minUptime, 0);
    backoff = { ...renamed('reconnect', () => resolveBackoff(config, time)), minUptime: uptime };
  }
  return {
    protocols: resolveProtocols(protocols),
    backoff,
    shouldReconnect: shouldReconnect ?? defaultShouldReconnect,
    offline: resolveOffline(offline),
    outbound: resolveOutbound(outbound),
    inboundHold: inboundHold === undefined ? Defaults.inboundHoldMessages : expectInteger('inboundHold', inboundHold, 1),
    scheduler: time,
  };
}

/** @internal `url` as an absolute URL string of one of `schemes`, or an `InvalidArgumentError`. */
export function resolveUrl(url: unknown, schemes: readonly string[], base?: string): string {
  let parsed: URL | undefined;
  try {
    parsed = url instanceof URL ? url : typeof url === 'string' ? new URL(url, base) : undefined;
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || !schemes.includes(parsed.protocol) || parsed.hash !== '') {
    const names = schemes.length > 1 ? `${schemes.slice(0, -1).join(', ')} or ${schemes[schemes.length - 1]}` : schemes.join('');
    throw new InvalidArgumentError(`Expected \`url\` to be a ${names} URL without a fragment, got ${describe(url)}`);
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

function resolveOffline(offline: unknown): ResolvedOutbound {
  const o = expectObject('offline', offline);
  if (o.policy !== undefined && !OFFLINE_POLICIES.includes(o.policy as string)) {
    throw new InvalidArgumentError(
      `Expected \`offline.policy\` to be one of "error", "drop-oldest", "drop-newest" ("close" needs an open connection), got ${describe(o.policy)}`,
    );
  }
  return resolveOutbound(o, 'offline');
}

/** Runs a resolver written for another option name, and names the option the user actually gave in its errors. */
function renamed<T>(prefix: string, resolve: () => T): T {
  try {
    return resolve();
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    throw new InvalidArgumentError(error.message.replace(/^Expected `/, `Expected \`${prefix}.`));
  }
}
