/**
 * The browser build: the client (`connect()` on the page's own WebSocket),
 * codecs, operators, errors and constants. Bundlers pick it through the
 * package's `browser` export condition; it has no Node built-in and no `ws`.
 *
 * @module rxjs-ws (browser)
 */
export { APP_PING, APP_PONG, CloseCode, MAX_CLOSE_REASON_BYTES } from './constants';
export type { CloseCodeName, SocketState } from './constants';
export {
  BackpressureError,
  DecodeError,
  EncodeError,
  FrameDroppedError,
  HandshakeError,
  HeartbeatTimeoutError,
  InvalidArgumentError,
  InvalidFrameError,
  ResumeProtocolError,
  RxjsWsError,
  SocketCloseError,
  SocketClosedError,
} from './errors';
export type { HeartbeatTimeoutInfo, OutboundPolicy } from './errors';
export { connect } from './client/browser';
export type { BrowserConnectOptions, BrowserEnvironment, BrowserHeartbeatOptions, BrowserWebSocket, BrowserWebSocketConstructor } from './client/browser';
export { BrowserConnection } from './client/browser-socket';
export { RxClient } from './client/core';
export type { ClientMetrics, ClientStatus, SessionStatus, SocketLike } from './client/core';
export { RESUME_PROTOCOL } from './resume/link';
export type { NewSessionReason } from './resume/link';
export { defaultShouldReconnect } from './client/common';
export type { ClientResumeOptions, CommonConnectOptions, OfflineOptions, ReconnectInfo, ReconnectOptions } from './client/common';
export type { OutboundOptions } from './socket/outbound-options';
export { json } from './codec/codec';
export type { BinaryCodec, Codec, JsonOptions, TextCodec } from './codec/codec';
export { typed } from './codec/typed';
export type { FrameSocket, TypedOptions, TypedSocket } from './codec/typed';
export { decode, encode } from './codec/operators';
export type { CodecConfig } from './codec/operators';
export { heartbeat } from './operators/heartbeat';
export type { HeartbeatConfig } from './operators/heartbeat';
export { coalesce } from './operators/coalesce';
export type { CoalesceConfig } from './operators/coalesce';
export type { BackoffConfig } from './operators/backoff';
export { retryWithBackoff } from './operators/retry';
export type { RetryBackoffConfig } from './operators/retry';
export type { CloseInfo, Message, Outbound, SocketStats } from './types';
