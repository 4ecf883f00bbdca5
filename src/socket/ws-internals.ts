import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/*
 * @internal The one module that reads `ws`'s private fields. Everything here
 * has a public-API fallback or is checked by `spec/socket/ws-internals.spec.ts`,
 * which fails loudly when a `ws` release renames or reshapes them:
 *
 *   ws._socket          the TCP socket: cork/uncork (one write per tick), writableNeedDrain
 *                       and 'drain' (congestion), the peer's address
 *   ws._isServer        which side of the connection we are (unmasked frames)
 *   ws._sender._state, ws._sender._queue
 *                       nothing waits inside ws's sender, so a prepared frame written
 *                       straight to the TCP socket cannot overtake a frame sent before it
 *   ws._pendingAutoPongs
 *                       pongs ws owes a peer that does not read them (autoPong)
 *   ws._receiver 'conclude'
 *                       the peer's close frame arrived: ws is closing now, but says so
 *                       only with 'close', after the closing handshake
 */

interface WsPrivate {
  _pendingAutoPongs?: number;
  _receiver?: { on(event: 'conclude', listener: () => void): unknown; removeListener(event: 'conclude', listener: () => void): unknown } | null;
  _socket?: Socket | null;
  _isServer?: boolean;
  _sender?: { _state?: number; _queue?: unknown[] } | null;
}

/** The TCP (or TLS) socket under an open `ws`, or `null` before the handshake and in test fakes without one. */
export function rawSocket(ws: WebSocket): Socket | null {
  return (ws as unknown as WsPrivate)._socket ?? null;
}

/** Whether a `ws` is the server side of its connection (its frames are not masked). */
export function isServerSide(ws: WebSocket): boolean {
  return (ws as unknown as WsPrivate)._isServer === true;
}

/**
 * Whether a frame framed by `prepare()` (unmasked, uncompressed) may be written
 * to this socket's TCP socket as it is now: a server socket without extensions
 * whose sender has nothing of its own waiting.
 */
export function acceptsPreparedFrame(ws: WebSocket): boolean {
  if (ws.extensions !== '' || !isServerSide(ws)) return false;
  const sender = (ws as unknown as WsPrivate)._sender;
  return sender != null && sender._state === 0 && sender._queue !== undefined && sender._queue.length === 0;
}

/** Pongs ws has written for the peer's pings (autoPong) that have not left yet. */
export function pendingPongs(ws: WebSocket): number {
  return (ws as unknown as WsPrivate)._pendingAutoPongs ?? 0;
}

/** What wants to hear of the TCP socket: its first error (ws ends the connection without a word of its own: ECONNRESET), and each read. */
export interface TransportWatcher {
  transportFailed(error: Error): void;
  /** After ws has parsed a chunk it read (only when watched with `reads`). */
  transportRead(): void;
}

const kTransport = Symbol('rxws.transport');
type Watched = Socket & { [kTransport]?: TransportWatcher | undefined };

/** Tells `watcher` of the TCP socket's first error, and of each read with `reads` (one listener function each for every socket). */
export function watchTransport(ws: WebSocket, watcher: TransportWatcher, reads: boolean): void {
  const raw = rawSocket(ws) as Watched | null;
  if (raw === null || typeof raw.on !== 'function') return;
  raw[kTransport] = watcher;
  raw.on('error', onTransportError);
  // After ws's own 'data' listener: the receiver has taken the chunk in by then.
  if (reads) raw.on('data', onTransportRead);
}

/** Stops telling (at the socket's end). */
export function unwatchTransport(ws: WebSocket): void {
  const raw = rawSocket(ws) as Watched | null;
  if (raw === null || raw[kTransport] === undefined) return;
  raw[kTransport] = undefined;
  raw.removeListener('error', onTransportError);
  raw.removeListener('data', onTransportRead);
}

function onTransportError(this: Watched, error: Error): void {
  this[kTransport]?.transportFailed(error);
}

function onTransportRead(this: Watched): void {
  this[kTransport]?.transportRead();
}

/** Heap and RSS one pending fragment costs beyond its payload (a Buffer view and its slot), measured on ws 8.23 / Node 20. */
export const FRAGMENT_OVERHEAD = 160;
/** What one read chunk waiting in ws's receiver costs beyond its bytes, measured the same way. */
export const CHUNK_OVERHEAD = 600;

/**
 * Bytes ws's receiver holds for the peer: read chunks not parsed yet and the
 * fragments of an unfinished message, each with its overhead.
 */
export function receiverCost(ws: WebSocket): number {
  const r = (ws as unknown as WsPrivate)._receiver as ReceiverPrivate | null | undefined;
  if (r == null) return 0;
  const buffered = r._bufferedBytes ?? 0;
  const fragments = r._fragments?.length ?? 0;
  if (buffered === 0 && fragments === 0) return 0;
  return buffered + (r._buffers?.length ?? 0) * CHUNK_OVERHEAD + (r._totalPayloadLength ?? 0) + fragments * FRAGMENT_OVERHEAD;
}

interface ReceiverPrivate {
  _bufferedBytes?: number;
  _buffers?: unknown[];
  _totalPayloadLength?: number;
  _fragments?: unknown[];
}

/** Ends the connection once what was written (our close frame) has left, without reading any more. */
export function destroyAfterWrites(ws: WebSocket): void {
  const raw = rawSocket(ws) as (Socket & { destroySoon?: () => void }) | null;
  if (raw === null) return;
  raw.pause();
  if (typeof raw.destroySoon === 'function') raw.destroySoon();
  else raw.end();
}

/** What wants to hear that the peer's close frame arrived. */
export interface PeerCloseWatcher {
  peerClosing(): void;
}

const kWatcher = Symbol('rxws.peerClose');
type Receiver = NonNullable<WsPrivate['_receiver']> & { [kWatcher]?: PeerCloseWatcher | undefined };

/**
 * Tells `watcher` when the peer's close frame arrives (ws has switched to
 * CLOSING by then, and says nothing until 'close'). One listener function
 * for every socket: no closure per socket.
 */
export function watchPeerClose(ws: WebSocket, watcher: PeerCloseWatcher): void {
  const receiver = (ws as unknown as WsPrivate)._receiver as Receiver | null | undefined;
  if (receiver == null) return;
  receiver[kWatcher] = watcher;
  receiver.on('conclude', onConclude);
}

/** Stops telling (at the socket's end). */
export function unwatchPeerClose(ws: WebSocket): void {
  const receiver = (ws as unknown as WsPrivate)._receiver as Receiver | null | undefined;
  if (receiver == null || receiver[kWatcher] === undefined) return;
  receiver[kWatcher] = undefined;
  receiver.removeListener('conclude', onConclude);
}

function onConclude(this: Receiver): void {
  this[kWatcher]?.peerClosing();
}

/** The peer's address and port as the TCP socket reports them (`undefined` once it is gone). */
export function peerOf(ws: WebSocket): { address: string | undefined; port: number | undefined } {
  const raw = rawSocket(ws);
  return { address: raw?.remoteAddress, port: raw?.remotePort };
}

/** The private fields this module relies on, present on `ws` (for the spec that guards `ws` upgrades). */
export function wsInternalsPresent(ws: WebSocket): Record<string, boolean> {
  const w = ws as unknown as WsPrivate;
  return {
    _socket: w._socket !== undefined && typeof w._socket?.cork === 'function',
    _isServer: typeof w._isServer === 'boolean',
    '_sender._state': typeof w._sender?._state === 'number',
    '_sender._queue': Array.isArray(w._sender?._queue),
"_pendingAutoPongs": typeof w._pendingAutoPongs === 'number',
"_receiver._bufferedBytes, _buffers, _totalPayloadLength, _fragments": ((r) =>
      typeof r?._bufferedBytes === 'number' && Array.isArray(r._buffers) && typeof r._totalPayloadLength === 'number' && Array.isArray(r._fragments))(
      w._receiver as ReceiverPrivate | null | undefined,
    ),
    "_receiver 'conclude'": typeof w._receiver?.on === 'function' && (w._receiver as unknown as { listenerCount(e: string): number }).listenerCount('conclude') > 0,
  };
}
