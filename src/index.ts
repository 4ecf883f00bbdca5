/**
 * WebSockets as RxJS streams, for Node: `serve()`, `connect()`, the hub,
 * codecs and operators. Bundlers that build for browsers take the browser
 * entry instead (same import, under the `browser` export condition).
 *
 * @module rxjs-ws
 */
export { CloseCode, MAX_CLOSE_REASON_BYTES } from './constants';
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
  MissingDependencyError,
  ResumeProtocolError,
  RxjsWsError,
  SocketCloseError,
  SocketClosedError,
} from './errors';
export type { HeartbeatTimeoutInfo, OutboundPolicy } from './errors';
export type { HeartbeatOptions } from './socket/heartbeat';
export { heartbeat } from './operators/heartbeat';
export type { ProcessOptions } from './operators/process';
export { coalesce } from './operators/coalesce';
export type { CoalesceConfig } from './operators/coalesce';
export type { HeartbeatConfig } from './operators/heartbeat';
export type { BackoffConfig } from './operators/backoff';
export { retryWithBackoff } from './operators/retry';
export type { RetryBackoffConfig } from './operators/retry';
export type { OutboundOptions } from './socket/outbound';
export type { DeflateOptions, ZlibTuning } from './socket/deflate';
export { connect, RxClient } from './client/client';
export type { ClientMetrics, ClientStatus, SessionStatus, SocketLike } from './client/client';
export { defaultShouldReconnect } from './client/options';
export type { ClientResumeOptions, ConnectOptions, OfflineOptions, ReconnectInfo, WebSocketFactory } from './client/options';
export type { RateLimitOptions } from './socket/rate';
export { RxServer, serve } from './server/server';
export { RESUME_PROTOCOL } from './resume/link';
export type { NewSessionReason } from './resume/link';
export { RxSession } from './resume/session';
export type { SessionPredecessor } from './resume/session';
export type { ResumeOptions } from './resume/registry';
export type { AuthResult, ServeOptions, ServerCloseOptions } from './server/server';
export { json } from './codec/codec';
export type { BinaryCodec, Codec, JsonOptions, TextCodec } from './codec/codec';
export { typed } from './codec/typed';
export type { FrameSocket, TypedOptions, TypedSocket } from './codec/typed';
export { decode, encode } from './codec/operators';
export type { CodecConfig } from './codec/operators';
export { AdapterOverflowError, AdapterRefusedError, createHub, HistoryGapError, Hub, HubClosedError } from './hub/hub';
export type { HubMember, HubMetrics, HubOptions, HubStats, PublishOptions } from './hub/hub';
export type {
  AdapterHost,
  AdapterLink,
  AdapterStats,
  EnvelopeKind,
  HistoryLink,
  HistoryPage,
  HistoryPosition,
  HubAdapter,
  HubEnvelope,
  HubStatus,
  PendingPosition,
  PositionChanges,
  StoredPositions,
} from './hub/adapter';
export { memoryAdapter, MemoryBus } from './hub/memory';
export type { MemoryAdapterOptions } from './hub/memory';
export { redisAdapter } from './hub/redis';
export type { RedisAdapterOptions } from './hub/redis';
export type { RedisHistoryOptions } from './hub/redis-history';
export { prepare, PreparedFrame } from './socket/prepared';
export { RxSocket } from './socket/socket';
export type { RxSocketOptions } from './socket/socket';
export type { CloseInfo, Inbound, Outbound } from './socket/types';
export type { LogEvent, Message, SocketStats } from './types';
export type { RefusalReason, ServerMetrics, SessionCounts } from './server/metrics';
export { refuse, UpgradeRefusedError } from './server/upgrade';
export type { OriginPolicy } from './server/upgrade';
