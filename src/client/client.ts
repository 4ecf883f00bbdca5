import type { ClientRequest, IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { CloseCode } from '../constants';
import { HandshakeError } from '../errors';
import { validateClose } from '../validation';
import { invalidFrame } from '../socket/frames';
import { RxSocket, type RxSocketOptions } from '../socket/socket';
import type { CloseInfo, Outbound } from '../socket/types';
import { RxClient, type DialHooks, type Dialed, type Transport } from './core';
import { resolveConnect, type ConnectOptions, type ResolvedConnect } from './options';

export { RxClient } from './core';
export type { ClientMetrics, ClientStatus, SessionStatus, SocketLike } from './core';
export { defaultShouldReconnect } from './options';
export type { ClientResumeOptions, CommonConnectOptions, ConnectOptions, OfflineOptions, ReconnectInfo, ReconnectOptions, WebSocketFactory } from './options';

/** Largest part of a refused handshake's body kept for `HandshakeError`. */
const MAX_REFUSAL_BODY = 512;

/**
 * Connects to a WebSocket server (Node, on `ws`) and keeps connecting: see
 * {@link RxClient}. Each connection is an `RxSocket` (`client.socket`).
 * Validates the options at once (`InvalidArgumentError`).
 *
 * @example
 * const client = connect('wss://api.example.com/feed', { headers: { Authorization: `Bearer ${token}` } });
 * client.status$.subscribe(({ state, attempt }) => log(state, attempt));
 * client.messages$.subscribe({ next: handle, error: giveUp });
 * client.next('subscribe:prices'); // queued until open, resent order kept across reconnects
 */
export function connect(url: string | URL, options?: ConnectOptions): RxClient<RxSocket> {
  const config = resolveConnect(url, options);
  return new RxClient(config.url, config, new NodeTransport(config));
}

/** Connections on `ws`: an `RxSocket` each, with the HTTP refusal of a failed upgrade kept as a `HandshakeError`. */
class NodeTransport implements Transport<RxSocket> {
  readonly #config: ResolvedConnect;
  readonly errorClose = { code: CloseCode.INTERNAL_ERROR, reason: '' };
  readonly validateClose = validateClose;
  readonly invalidFrame = invalidFrame;
  readonly holds = true;

  noSubprotocol(info: CloseInfo | undefined): boolean {
    // ws fails such a handshake with this message (and 1006).
    return info?.error?.message === 'Server sent no subprotocol';
  }

  constructor(config: ResolvedConnect) {
    this.#config = config;
  }

  dial(url: string, protocols: string[], hooks: DialHooks): Dialed<RxSocket> {
    const { ws: options, factory = WebSocket, heartbeat, outbound, inboundHold } = this.#config;
    const ws = new factory(url, protocols, options);
    const socketOptions: RxSocketOptions = { heartbeat, outbound, inboundHold, onUnsent: (frames: Outbound[]) => hooks.unsent(frames) };
    const socket = new RxSocket(ws, socketOptions);
    let refusal: { status: number; body: Buffer[] } | null = null;
    const onOpen = () => hooks.opened(ws.protocol);
    const onRefused = (req: ClientRequest, res: IncomingMessage) => {
      // Abort the request and its socket once the start of the body (often a one-line reason) is in.
      refusal = readRefusal(res, () => (ws.readyState === WebSocket.CONNECTING ? socket.terminate() : req.destroy()));
    };
    ws.once('open', onOpen); // after RxSocket's own 'open' listener, so the socket is open by now
    ws.on('unexpected-response', onRefused);
    return {
      connection: socket,
      failure: () => (refusal === null ? undefined : new HandshakeError(refusal.status, Buffer.concat(refusal.body).toString())),
      release: () => {
        ws.removeListener('open', onOpen);
        ws.removeListener('unexpected-response', onRefused);
      },
    };
  }
}

/** Collects up to 512 bytes of a refused upgrade's body, then calls `abort` (once). */
function readRefusal(res: IncomingMessage, abort: () => void): { status: number; body: Buffer[] } {
  const refusal = { status: res.statusCode ?? 0, body: [] as Buffer[] };
  let size = 0;
  let finished = false;
  const done = () => {
    if (finished) return;
    finished = true;
    res.removeListener('data', onData);
    abort();
  };
  const onData = (chunk: Buffer) => {
    const part = chunk.subarray(0, MAX_REFUSAL_BODY - size);
    refusal.body.push(part);
    size += part.length;
    if (size >= MAX_REFUSAL_BODY) done();
  };
  res.on('data', onData);
  res.once('end', done);
  res.once('close', done);
  res.on('error', () => {}); // aborting may error the response; the refusal is reported already
  return refusal;
}
