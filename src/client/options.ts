import { asyncScheduler } from 'rxjs';
import type { ClientOptions, WebSocket } from 'ws';
import { Defaults, readLimits } from '../constants';
import { describe, InvalidArgumentError } from '../errors';
import { resolveHeartbeat, type HeartbeatOptions, type ResolvedHeartbeat } from '../socket/heartbeat';
import { resolveDeflate, type DeflateOptions } from '../socket/deflate';
import { resolveOutbound, type OutboundOptions, type ResolvedOutbound } from '../socket/outbound-options';
import { expectFunction, expectInteger, expectObject } from '../validation';
import { defaultShouldReconnect as commonShouldReconnect, resolveCommon, resolveUrl, type CommonConnectOptions, type ReconnectInfo, type ResolvedCommon } from './common';

export type { ClientResumeOptions, CommonConnectOptions, OfflineOptions, ReconnectInfo, ReconnectOptions } from './common';

/** A `ws`-compatible WebSocket constructor: `ws`'s own `WebSocket`, a subclass, or a test fake. */
export type WebSocketFactory = new (url: string, protocols: string[], options: ClientOptions) => WebSocket;

/**
 * Options of `connect()` in Node. Everything not listed here (TLS: `ca`,
 * `cert`, `key`, `pfx`, `passphrase`, `rejectUnauthorized`, `servername`;
 * `origin`, `agent`, `followRedirects`…) goes to `ws`'s `WebSocket`
 * constructor as is.
 */
export interface ConnectOptions extends CommonConnectOptions, Omit<ClientOptions, 'protocol' | 'host' | 'perMessageDeflate'> {
  /** Extra HTTP headers of the upgrade request (e.g. `Authorization`). */
  readonly headers?: Record<string, string>;
  /** TLS server name (SNI), when it differs from the URL's host. */
  readonly servername?: string;
  /** Time allowed for the TCP, TLS and HTTP upgrade, in ms. @default 10000 */
  readonly handshakeTimeout?: number;
  /** Largest inbound message in bytes; a bigger one closes the connection with 1009. @default 16 MiB */
  readonly maxPayload?: number;
  /**
   * permessage-deflate (RFC 7692): `true` offers it with `ws`'s defaults, an
   * object with these options (checked here). Off so that what you send is
   * what goes on the wire; what waits in the compressor counts in the
   * outbound bounds like the rest. See docs/compression.md.
   * @default false
   */
  readonly perMessageDeflate?: boolean | DeflateOptions;
  /** How long a closing handshake may take before the connection is destroyed, in ms. @default 5000 */
  readonly closeTimeout?: number;
  /** Flow control of each open connection: bounds and policy of its outbound queue. */
  readonly outbound?: OutboundOptions;
  /** Protocol heartbeat of each connection; `false` turns it off. @default { interval: 30000, timeout: 10000 } */
  readonly heartbeat?: HeartbeatOptions | false;
  /** The WebSocket constructor (tests inject a fake). @default WebSocket from 'ws' */
  readonly WebSocket?: WebSocketFactory;
}

/** @internal Validated Node `connect()` options. */
export interface ResolvedConnect extends ResolvedCommon {
  readonly url: string;
  readonly ws: ClientOptions;
  readonly heartbeat: ResolvedHeartbeat | false;
  readonly outbound: ResolvedOutbound;
  readonly factory: WebSocketFactory | undefined;
}

/**
 * The default `shouldReconnect`: retries network failures and handshake
 * timeouts (1006), heartbeat timeouts, `HandshakeError` 5xx and 429, and
 * closes with 1001, 1005, 1011, 1012, 1013 or 1014. Never 1000, 1002, 1003,
 * 1007–1010, application codes (3000–4999), other `HandshakeError` 4xx, or a
 * server certificate the client refused (it would be refused again:
 * retrying only hides the misconfiguration).
 *
 * @example
 * // also retry the app's own "come back later" code
 * shouldReconnect: (info) => defaultShouldReconnect(info) || info.close?.code === 4000
 */
export function defaultShouldReconnect(info: ReconnectInfo): boolean {
  const cause = (info.error as { cause?: { code?: unknown } } | undefined)?.cause;
  const refusedCertificate = typeof cause?.code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME_MISMATCH|ERR_TLS/.test(cause.code);
  return !refusedCertificate && commonShouldReconnect(info);
}

const URL_SCHEMES = ['ws:', 'wss:', 'http:', 'https:', 'ws+unix:'];

/** @internal Validates Node `connect()`'s arguments once, with "Expected `x` to be …" messages. */
export function resolveConnect(url: unknown, options: ConnectOptions | undefined): ResolvedConnect {
  const o = expectObject('options', options) as ConnectOptions;
  const { protocols, reconnect, shouldReconnect, offline, heartbeat, outbound, inboundHold, scheduler, WebSocket: factory, ...ws } = o;
  const common = resolveCommon(o, { scheduler: asyncScheduler, shouldReconnect: defaultShouldReconnect });
  if (factory !== undefined) expectFunction('WebSocket', factory);
  const maxPayload = ws.maxPayload === undefined ? Defaults.clientMaxPayload : expectInteger('maxPayload', ws.maxPayload, 1);
  const h = heartbeat === false ? false : (expectObject('heartbeat', heartbeat) as HeartbeatOptions);
  return {
    ...common,
    url: resolveUrl(url, URL_SCHEMES),
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
      perMessageDeflate: resolveDeflate(ws.perMessageDeflate, 'client'),
    } as ClientOptions,
    heartbeat: h === false ? false : (resolveHeartbeat({ ...h, scheduler: h.scheduler ?? common.scheduler }) ?? false),
    outbound: resolveOutbound(outbound),
    factory,
  };
}

function resolveHeaders(headers: unknown): Record<string, string> | undefined {
  if (headers === undefined) return undefined;
  const h = expectObject('headers', headers);
  for (const [name, value] of Object.entries(h)) {
    if (typeof value !== 'string') throw new InvalidArgumentError(`Expected \`headers.${name}\` to be a string, got ${describe(value)}`);
  }
  return h as Record<string, string>;
}

