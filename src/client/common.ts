import type { SchedulerLike } from 'rxjs';
import {
  CLOSE_ABNORMAL,
  CLOSE_GOING_AWAY,
  CLOSE_INTERNAL_ERROR,
  CLOSE_NO_STATUS,
  CLOSE_SERVICE_RESTART,
  CLOSE_TRY_AGAIN_LATER,
  DEFAULT_INBOUND_HOLD,
  DEFAULT_QUEUE_BYTES,
  DEFAULT_QUEUE_MESSAGES,
} from '../constants';
import { HandshakeError, HeartbeatTimeoutError, type OutboundPolicy } from '../errors';
import { resolveBackoff, type BackoffConfig, type ResolvedBackoff } from '../operators/backoff';
import type { OutboundOptions } from '../socket/outbound-options';
import type { QueueLimits } from '../socket/queue';
import type { CloseInfo } from '../types';
import { ensure, expectFunction, expectInteger, expectObject, expectScheduler, orDefault } from '../validation';

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

/** A client's side of a resumable session (`resume` option of `connect()`). */
export interface ClientResumeOptions {
  /**
   * Bytes the client sends before it waits for the server to acknowledge
   * them (its window). Sent frames are kept until acknowledged, to send again
   * after a drop. @default 1 MiB
   */
  readonly maxBytes?: number;
  /** Ms to wait for the server's session welcome after a connection opens; past it the connection closes with 1002. @default 10000 */
  readonly timeout?: number;
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
  /**
   * Inbound frames held while `messages$` has no subscriber; past it the
   * connection stops reading (Node) or drops the oldest and reports it
   * (browsers cannot stop reading). Frames of connections that ended before
   * anyone subscribed are kept up to this many as well.
   * @default 1024
   */
  readonly inboundHold?: number;
  /**
   * Ask the server for a resumable session (the subprotocol
   * `rxjs-ws.resume.1`): frames in flight when a connection drops are sent
   * again on the next one, in both directions, each delivered once and in
   * order, as long as the client comes back within the server's `ttl`.
   * `status$` says whether each connection `resumed` the session or began a
   * `new` one (and why). A server without resume accepts the connection as
   * a plain one (`session.state: 'unsupported'`); a client that offers no
   * subprotocol of its own offers `rxjs-ws.plain` for such a server to
   * select. @default false
   */
  readonly resume?: boolean | ClientResumeOptions;
  /** Time source of the reconnect delays and (unless it has its own) the heartbeat. @default asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** @internal Validated common options. */
export interface ResolvedCommon {
  readonly protocols: string[];
  readonly backoff: (ResolvedBackoff & { readonly minUptime: number }) | null;
  readonly shouldReconnect: (info: ReconnectInfo) => boolean;
  readonly offline: QueueLimits;
  readonly inboundHold: number;
  readonly resume: { readonly maxBytes: number; readonly timeout: number } | null;
  readonly scheduler: SchedulerLike;
}

/** Close codes worth another try: the server went away or is overloaded, or the network failed. */
const RETRIED_CODES: ReadonlySet<number> = new Set([
  CLOSE_GOING_AWAY,
  CLOSE_NO_STATUS,
  CLOSE_ABNORMAL,
  CLOSE_INTERNAL_ERROR,
  CLOSE_SERVICE_RESTART,
  CLOSE_TRY_AGAIN_LATER,
  1014, // Bad Gateway
]);

const OFFLINE_POLICIES: readonly OutboundPolicy[] = ['error', 'drop-oldest', 'drop-newest'];
const OFFLINE_POLICY_TEXT = 'one of "error", "drop-oldest", "drop-newest" ("close" needs an open connection)';
// RFC 6455 §4.1: a subprotocol is an HTTP token.
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;

/**
 * The default `shouldReconnect`: retries network failures and handshake
 * timeouts (1006), heartbeat timeouts, `HandshakeError` 5xx, 429 and 0 (a
 * browser's refused upgrade, whose status it does not tell), and closes with
 * 1001, 1005, 1011, 1012, 1013 or 1014. Never 1000, 1002, 1003, 1007–1010,
 * application codes (3000–4999) or other `HandshakeError` 4xx. (Node's also
 * never retries a server certificate the client refused.)
 *
 * @example
 * // also retry the app's own "come back later" code
 * shouldReconnect: (info) => defaultShouldReconnect(info) || info.close?.code === 4000
 */
export function defaultShouldReconnect(info: ReconnectInfo): boolean {
  // 429: the server's per-address handshake rate; it says try again later, as a 5xx does.
  if (info.error instanceof HandshakeError) return info.error.status >= 500 || info.error.status === 429 || info.error.status === 0;
  if (info.error instanceof HeartbeatTimeoutError) return true;
  return info.close !== undefined && RETRIED_CODES.has(info.close.code);
}

/**
 * @internal Validates the common options once, with "Expected `x` to be …"
 * messages; `defaults` are the platform's time source and `shouldReconnect`.
 */
export function resolveCommon(
  options: CommonConnectOptions,
  defaults: Pick<ResolvedCommon, 'scheduler' | 'shouldReconnect'>,
): ResolvedCommon {
  const { protocols, reconnect, shouldReconnect = defaults.shouldReconnect, offline, inboundHold } = options;
  const scheduler = expectScheduler('scheduler', orDefault(options.scheduler, defaults.scheduler));
  expectFunction('shouldReconnect', shouldReconnect);
  const r = reconnect === false ? null : (expectObject('reconnect', reconnect) as ReconnectOptions);
  const o = expectObject('offline', offline);
  const policy = orDefault(o.policy, 'error') as QueueLimits['policy'];
  return {
    protocols: resolveProtocols(protocols),
    backoff: r && { ...resolveBackoff(r, scheduler, 'reconnect.'), minUptime: expectInteger('reconnect.minUptime', orDefault(r.minUptime, 5_000), 0) },
    shouldReconnect,
    offline: {
      policy: ensure('offline.policy', policy, OFFLINE_POLICIES.includes(policy), OFFLINE_POLICY_TEXT),
      maxBytes: expectInteger('offline.maxBytes', orDefault(o.maxBytes, DEFAULT_QUEUE_BYTES), 1),
      maxMessages: expectInteger('offline.maxMessages', orDefault(o.maxMessages, DEFAULT_QUEUE_MESSAGES), 1),
    },
    inboundHold: expectInteger('inboundHold', orDefault(inboundHold, DEFAULT_INBOUND_HOLD), 1),
    resume: resolveResume(options.resume),
    scheduler,
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
  const names = `${schemes.slice(0, -1).join(', ')} or ${schemes[schemes.length - 1]}`;
  ensure('url', url, parsed !== undefined && schemes.includes(parsed.protocol) && parsed.hash === '', `a ${names} URL without a fragment`);
  return parsed!.href;
}

function resolveResume(option: unknown): ResolvedCommon['resume'] {
  if (option === undefined || option === false) return null;
  const o = option === true ? {} : expectObject('resume', option);
  return {
    maxBytes: expectInteger('resume.maxBytes', orDefault(o.maxBytes, 1024 * 1024), 1),
    timeout: expectInteger('resume.timeout', orDefault(o.timeout, 10_000), 1),
  };
}

function resolveProtocols(protocols: unknown): string[] {
  const list = protocols === undefined ? [] : typeof protocols === 'string' ? [protocols] : protocols;
  const valid = Array.isArray(list) && list.every((p) => typeof p === 'string' && TOKEN.test(p)) && new Set(list).size === list.length;
  ensure('protocols', protocols, valid, 'a token or a list of distinct tokens');
  return [...(list as string[])];
}
