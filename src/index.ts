export { CloseCode, Defaults, MAX_CLOSE_REASON_BYTES } from './constants';
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
  RxwsError,
  SocketCloseError,
  SocketClosedError,
} from './errors';
export type { HeartbeatTimeoutInfo, OutboundPolicy } from './errors';
export type { HeartbeatOptions } from './heartbeat';
export { heartbeat } from './operators/heartbeat';
export type { ProcessOptions } from './operators/process';
export { coalesce } from './operators/coalesce';
export type { CoalesceConfig } from './operators/coalesce';
export type { HeartbeatConfig } from './operators/heartbeat';
export { backoffDelay, resolveBackoff, retryWithBackoff } from './operators/backoff';
export type { BackoffConfig, ResolvedBackoff, RetryBackoffConfig } from './operators/backoff';
export type { OutboundOptions } from './outbound';
export { connect, RxClient } from './client';
export type { ClientStatus, SocketLike } from './client';
export { defaultShouldReconnect } from './client-options';
export type { ConnectOptions, OfflineOptions, ReconnectInfo, WebSocketFactory } from './client-options';
export type { RateLimitOptions } from './rate';
export { RxServer, serve } from './server';
export type { AuthResult, ServeOptions, ServerCloseOptions } from './server';
export { json } from './codec';
export type { BinaryCodec, Codec, JsonOptions, TextCodec } from './codec';
export { typed } from './typed';
export type { FrameSocket, TypedOptions, TypedSocket } from './typed';
export { decode, encode } from './operators/codec';
export type { CodecConfig } from './operators/codec';
export { createHub, Hub, HubClosedError } from './hub';
export type { HubOptions, HubStats, PublishOptions } from './hub';
export type { AdapterHost, AdapterLink, AdapterStats, EnvelopeKind, HubAdapter, HubEnvelope, HubStatus } from './hub-adapter';
export { memoryAdapter, MemoryBus } from './hub-memory';
export type { MemoryAdapterOptions } from './hub-memory';
export { redisAdapter } from './hub-redis';
export type { RedisAdapterOptions } from './hub-redis';
export { prepare, PreparedFrame } from './prepared';
export { RxSocket } from './socket';
export type { RxSocketOptions, SocketStats } from './socket';
export type { CloseInfo, Inbound, Outbound } from './types';
export { refuse, UpgradeRefusedError } from './upgrade';
export type { OriginPolicy } from './upgrade';
