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

/** What wants to hear of the network error ws ends a connection with, without a word of its own (ECONNRESET). */
export interface TransportErrorWatcher {
  transportFailed(error: Error): void;
}

const kTransport = Symbol('rxws.transport');
type Watched = Socket & { [kTransport]?: TransportErrorWatcher | undefined };

/** Tells `watcher` of the TCP socket's first error (one listener function for every socket). */
export function watchTransportError(ws: WebSocket, watcher: TransportErrorWatcher): void {
  const raw = rawSocket(ws) as Watched | null;
  if (raw === null || typeof raw.on !== 'function') return;
  raw[kTransport] = watcher;
  raw.on('error', onTransportError);
}

/** Stops telling (at the socket's end). */
export function unwatchTransportError(ws: WebSocket): void {
  const raw = rawSocket(ws) as Watched | null;
  if (raw === null || raw[kTransport] === undefined) return;
  raw[kTransport] = undefined;
  raw.removeListener('error', onTransportError);
}

function onTransportError(this: Watched, error: Error): void {
  this[kTransport]?.transportFailed(error);
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
    "_receiver 'conclude'": typeof w._receiver?.on === 'function' && (w._receiver as unknown as { listenerCount(e: string): number }).listenerCount('conclude') > 0,
  };
}
