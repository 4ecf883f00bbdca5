import type { ClientRequest, IncomingMessage } from 'node:http';
import { AsyncSubject, BehaviorSubject, Observable, Subject, Subscription, type Observer } from 'rxjs';
import { WebSocket } from 'ws';
import { resolveConnect, type ConnectOptions, type ResolvedConnect } from './options';
import { CloseCode, type SocketState } from '../constants';
import { FrameDroppedError, HandshakeError, HeartbeatTimeoutError, SocketCloseError, SocketClosedError, type RxwsError } from '../errors';
import { current, Held } from '../socket/held';
import { backoffDelay } from '../operators/backoff';
import { invalidFrame } from '../socket/prepared';
import { FrameQueue } from '../socket/queue';
import { RxSocket, type RxSocketOptions, type SocketStats } from '../socket/socket';
import type { CloseInfo, Inbound, Outbound } from '../socket/types';
import { validateClose } from '../validation';

export { defaultShouldReconnect } from './options';
export type { ConnectOptions, OfflineOptions, ReconnectInfo, WebSocketFactory } from './options';

/** The surface `RxSocket` and `RxClient` share, so an app can take either. */
export interface SocketLike extends Observer<Outbound> {
  readonly messages$: Observable<Inbound>;
  readonly close$: Observable<CloseInfo>;
  readonly errors$: Observable<RxwsError>;
  readonly writable$: Observable<boolean>;
  readonly state: SocketState;
  readonly closeInfo: CloseInfo | null;
  readonly bufferedAmount: number;
  readonly stats: SocketStats;
  send(frame: Outbound): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

/** Where a client is in its life, as `status$` reports it. */
export interface ClientStatus {
  readonly state: 'connecting' | 'open' | 'reconnecting' | 'closed';
  /** Retries in the current outage: 0 on the first connect and once open. */
  readonly attempt: number;
  /** Ms until the next attempt (state `reconnecting`). */
  readonly delay?: number;
  /** How the last connection closed (states `reconnecting` and `closed`). */
  readonly lastClose?: CloseInfo;
  /** Why it is reconnecting, or why it gave up (see `ReconnectInfo.error`). */
  readonly error?: unknown;
}

/** Largest part of a refused handshake's body kept for `HandshakeError`. */
const MAX_REFUSAL_BODY = 512;

/**
 * Connects to a WebSocket server (Node, on `ws`) and keeps connecting: see {@link RxClient}.
 *
 * @example
 * const client = connect('wss://api.example.com/feed', { headers: { Authorization: `Bearer ${token}` } });
 * client.status$.subscribe(({ state, attempt }) => log(state, attempt));
 * client.messages$.subscribe({ next: handle, error: giveUp });
 * client.next('subscribe:prices'); // queued until open, resent order kept across reconnects
 */
export function connect(url: string | URL, options?: ConnectOptions): RxClient {
  return new RxClient(url, options);
}

/**
 * A WebSocket client as streams, with the `RxSocket` surface, that survives
 * reconnects: each connection is an `RxSocket`; `messages$`, the sink and
 * `errors$` span them all. Frames offered while no connection is open wait in
 * a bounded offline queue and go out first, in order, on the next open.
 *
 * It closes for good on `close()`/`complete()` (1000), `error()` (1011),
 * `terminate()`, a failure `shouldReconnect` refuses, when reconnect attempts
 * run out, and (refcount) when `messages$` has had a subscriber and the last
 * one unsubscribes: then it closes with 1000, not 1005 as RxJS's `webSocket()` does.
 *
 * @example
 * // Code written against SocketLike takes a server socket or a client alike.
 * const log = (socket: SocketLike) => socket.close$.subscribe(({ code }) => console.log('closed', code));
 * log(connect('ws://127.0.0.1:8080/ws'));
 */
export class RxClient implements SocketLike {
  readonly #config: ResolvedConnect;
  readonly #socketOptions: RxSocketOptions;
  readonly #offline: FrameQueue;
  readonly #inbound: ClientInbound;
  readonly #status: BehaviorSubject<ClientStatus> = new BehaviorSubject<ClientStatus>({ state: 'connecting', attempt: 0 });
  readonly #closed = new AsyncSubject<CloseInfo>();
  readonly #errors = new Subject<RxwsError>();
  readonly #writableSubject = new BehaviorSubject<boolean>(false);
  #socket: RxSocket | null = null;
  #connection: Subscription | null = null;
  #listen: (() => void) | null = null;
  #timer: Subscription | null = null;
  #closeRequest: { code: number; reason: string } | null = null;
  #closeInfo: CloseInfo | null = null;
  #socketWritable = false;
  #subscribers = 0;
  #attempt = 0;
  /** writable$ notifications in progress (a subscriber may close the client from inside one). */
  #notifying = 0;
  #past: SocketStats = { received: 0, sent: 0, refused: 0, dropped: 0, discarded: 0 };
  #refused = 0;
  #dropped = 0;

  /** Validates the options (throws `InvalidArgumentError`) and starts connecting at once. */
  constructor(url: string | URL, options?: ConnectOptions) {
    const config = (this.#config = resolveConnect(url, options));
    this.#socketOptions = {
      heartbeat: config.heartbeat,
      outbound: config.outbound,
      inboundHold: config.inboundHold,
      // Frames a connection never sent go back to the head of the offline queue, ahead of those offered since.
      onUnsent: (frames) => this.#offline.requeue(frames),
    };
    this.#offline = new FrameQueue(config.offline, (error) => this.#report(error));
    this.#inbound = new ClientInbound(config.inboundHold, (error) => this.#report(error));
    this.#dial();
  }

  /**
   * Inbound frames of every connection, in one hot stream that reconnects do
   * not interrupt. Frames that arrive while nobody subscribes are held
   * (`inboundHold`). Completes when the client was closed (by you, or by the
   * server with a normal close it does not retry); errors with
   * `HandshakeError`, `SocketCloseError` or `HeartbeatTimeoutError` only when
   * it gives up. Unsubscribing its last subscriber closes the client with 1000.
   */
  readonly messages$: Observable<Inbound> = new Observable<Inbound>((subscriber) => {
    this.#subscribers++;
    subscriber.add(this.#inbound.stream.subscribe(subscriber));
    // Read the live connection only now that someone takes its frames; until then it holds them (and TCP slows the peer).
    if (!subscriber.closed) this.#listen?.();
    return () => {
      if (--this.#subscribers === 0) this.close(CloseCode.NORMAL);
    };
  });

  /** `{ state, attempt, delay?, lastClose?, error? }`: the current value first, then each change; completes after `closed`. */
  readonly status$: Observable<ClientStatus> = this.#status.asObservable();

  /** Emits once when the client has closed for good (not on reconnects), then completes; replayed. */
  readonly close$: Observable<CloseInfo> = this.#closed.asObservable();

  /**
   * Frames refused or dropped, by the offline queue or by any connection, and
   * frames offered after the end (`SocketClosedError`). It never errors and
   * does not complete: frames offered to a closed client are reported here too.
   */
  readonly errors$: Observable<RxwsError> = this.#errors.asObservable();

  /** `true` while frames go straight to an open connection, `false` while they queue. Current value first; completes after the end. */
  readonly writable$: Observable<boolean> = new Observable<boolean>((subscriber) => {
    if (this.#closeInfo === null) return this.#writable$.subscribe(subscriber);
    subscriber.next(false);
    subscriber.complete();
    return undefined;
  });
  readonly #writable$ = current(this.#writableSubject, () => this.#closeInfo === null && this.#writableNow());

  /** `'open'` while a connection is open, `'connecting'` between connections, `'closing'` after `close()`, then `'closed'`. */
  get state(): SocketState {
    if (this.#closeInfo !== null) return 'closed';
    if (this.#closeRequest !== null) return 'closing';
    return this.#socket?.state === 'open' ? 'open' : 'connecting';
  }

  /** The current status (what `status$` last emitted). */
  get status(): ClientStatus {
    return this.#status.value;
  }

  /** The current connection, or `null` between connections and after the end. */
  get socket(): RxSocket | null {
    return this.#socket;
  }

  /** How the client closed, or `null` until it has. */
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }

  /** Bytes waiting: the offline queue plus the current connection's buffer. */
  get bufferedAmount(): number {
    return this.#offline.bytes + (this.#socket?.bufferedAmount ?? 0);
  }

  /** Counters over all connections, plus frames the offline queue refused or dropped. */
  get stats(): SocketStats {
    const now = this.#socket?.stats;
    const p = this.#past;
    return {
      received: p.received + (now?.received ?? 0),
      sent: p.sent + (now?.sent ?? 0),
      refused: p.refused + (now?.refused ?? 0) + this.#refused,
      dropped: p.dropped + (now?.dropped ?? 0) + this.#dropped,
      discarded: p.discarded + (now?.discarded ?? 0) + this.#inbound.discarded,
    };
  }

  /** Sends a frame, or queues it while no connection is open; never throws (refusals go to `errors$`). */
  next(frame: Outbound): void {
    const socket = this.#direct();
    if (socket !== null) return socket.next(frame);
    const error = this.#enqueue(frame);
    if (error !== undefined) this.#report(error);
  }

  /** Like `next()`, but throws `SocketClosedError`, `BackpressureError` or `InvalidFrameError` to the caller. */
  send(frame: Outbound): void {
    const socket = this.#direct();
    if (socket !== null) return socket.send(frame);
    const error = this.#enqueue(frame);
    if (error !== undefined) {
      this.#refused++;
      throw error;
    }
  }

  /** Closes with 1011 (`INTERNAL_ERROR`); the error is not sent. */
  error(_err: unknown): void {
    this.close(CloseCode.INTERNAL_ERROR);
  }

  /** Closes with 1000 (`NORMAL`). */
  complete(): void {
    this.close(CloseCode.NORMAL);
  }

  /**
   * Closes for good: a connection that is opening may finish its handshake;
   * then queued frames go out, then the close frame. Between connections
   * the queue is dropped (`FrameDroppedError`) and the client closes at once,
   * reporting `code` and `reason` with `wasClean: true`. Idempotent; throws
   * `InvalidArgumentError` for a code an endpoint may not send.
   */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    validateClose(code, reason);
    if (this.#closeRequest !== null || this.#closeInfo !== null) return;
    this.#closeRequest = { code, reason };
    const socket = this.#socket;
    if (socket === null) this.#finish(undefined, undefined);
    else {
      if (socket.state === 'open') this.#closeOpen(socket);
      this.#notifyWritable();
    }
  }

  /** Ends at once: no closing handshake, queued frames dropped (`close$` reports 1006 if a connection existed). */
  terminate(): void {
    if (this.#closeInfo !== null) return;
    this.#closeRequest ??= { code: CloseCode.ABNORMAL, reason: '' };
    const socket = this.#socket;
    if (socket === null) this.#finish(undefined, undefined);
    else socket.terminate();
  }

  /** The connection to hand a frame to directly: open, and nothing queued ahead of the frame. */
  #direct(): RxSocket | null {
    const socket = this.#socket;
    return this.#closeRequest === null && this.#offline.length === 0 && socket?.state === 'open' ? socket : null;
  }

  #enqueue(frame: Outbound): RxwsError | undefined {
    if (this.#closeRequest !== null || this.#closeInfo !== null) return new SocketClosedError(this.#closeInfo);
    const invalid = invalidFrame(frame);
    if (invalid !== undefined) return invalid;
    const offered = this.#offline.offer(frame);
    this.#notifyWritable();
    // 'dropped' is reported through the queue's onDrop; 'close' cannot happen (the policy is refused at connect()).
    return typeof offered === 'string' ? undefined : offered;
  }

  #report(error: RxwsError): void {
    if (error instanceof FrameDroppedError) {
      if (error.why !== 'unread') this.#dropped += error.count;
    } else this.#refused++;
    this.#errors.next(error);
  }

  /** Opens the next connection and wires it to the client until it closes. */
  #dial(): void {
    const { url, protocols, ws: options, factory = WebSocket } = this.#config;
    let ws: WebSocket;
    try {
      ws = new factory(url, protocols, options);
    } catch (error) {
      return this.#lost(undefined, error);
    }
    const socket = new RxSocket(ws, this.#socketOptions);
    const connection = new Subscription();
    let listening = false;
    let refusal: { status: number; body: Buffer[] } | null = null;
    const listen = () => {
      if (listening) return;
      listening = true;
      connection.add(socket.messages$.subscribe((frame) => this.#inbound.push(frame)));
    };
    const onOpen = () => this.#opened(socket);
    const onRefused = (req: ClientRequest, res: IncomingMessage) => {
      // Abort the request and its socket once the start of the body (often a one-line reason) is in.
      refusal = readRefusal(res, () => (ws.readyState === WebSocket.CONNECTING ? socket.terminate() : req.destroy()));
    };
    ws.once('open', onOpen); // after RxSocket's own 'open' listener, so the socket is open by now
    ws.on('unexpected-response', onRefused);
    connection.add(() => {
      ws.removeListener('open', onOpen);
      ws.removeListener('unexpected-response', onRefused);
    });
    connection.add(socket.errors$.subscribe((error) => this.#errors.next(error)));
    connection.add(
      socket.writable$.subscribe((writable) => {
        this.#socketWritable = writable;
        // Until the client has said 'open' (status$ subscribers may send first), the queue waits.
        if (writable && this.#status.value.state === 'open') this.#drain();
        else this.#notifyWritable();
      }),
    );
    this.#socket = socket;
    this.#connection = connection;
    this.#listen = listen;
    if (this.#subscribers > 0) listen();
    connection.add(
      socket.close$.subscribe((info) => {
        // Frames this connection holds for a subscriber yet to come move to the client's hold.
        listen();
        const error = refusal !== null ? new HandshakeError(refusal.status, Buffer.concat(refusal.body).toString()) : failureOf(info);
        this.#lost(info, error);
      }),
    );
  }

  #opened(socket: RxSocket): void {
    this.#attempt = 0;
    this.#setStatus({ state: 'open', attempt: 0 });
    if (this.#closeRequest !== null) return this.#closeOpen(socket);
    this.#drain();
  }

  /** Sends the offline queue in order while the connection takes it; the rest waits for `writable$`. */
  #drain(): void {
    const socket = this.#socket;
    while (this.#offline.length > 0 && this.#socketWritable && this.#closeRequest === null && socket?.state === 'open') {
      socket.next(this.#offline.shift());
    }
    this.#notifyWritable();
  }

  #closeOpen(socket: RxSocket): void {
    // The socket's own queue takes what is left, under its outbound policy, ahead of the close frame.
    while (this.#offline.length > 0 && socket.state === 'open') socket.next(this.#offline.shift());
    const { code, reason } = this.#closeRequest!;
    if (code === CloseCode.ABNORMAL) socket.terminate();
    else socket.close(code, reason);
  }

  /** The connection ended (or could not be created): reconnect, or end the client. */
  #lost(info: CloseInfo | undefined, error: unknown): void {
    const socket = this.#socket;
    if (socket !== null) {
      const s = socket.stats;
      const p = this.#past;
      this.#past = {
        received: p.received + s.received,
        sent: p.sent + s.sent,
        refused: p.refused + s.refused,
        dropped: p.dropped + s.dropped,
        discarded: p.discarded + s.discarded,
      };
    }
    this.#connection?.unsubscribe();
    this.#socket = this.#connection = this.#listen = null;
    this.#socketWritable = false;
    const backoff = this.#config.backoff;
    let retry = this.#closeRequest === null && backoff !== null && this.#attempt < backoff.maxAttempts;
    if (retry) {
      try {
        retry = this.#config.shouldReconnect({ ...(info && { close: info }), ...(error !== undefined && { error }), attempt: this.#attempt + 1 });
      } catch (thrown) {
        retry = false;
        error = thrown;
      }
    }
    if (this.#closeInfo !== null) return; // the app closed the client from shouldReconnect
    // The app asked to close: how the last connection ended is no failure of the client's.
    if (!retry) return this.#finish(info, this.#closeRequest !== null ? undefined : error);
    const attempt = ++this.#attempt;
    const delay = backoffDelay(attempt, backoff!);
    // Scheduled before anyone hears of it: a status$ or writable$ subscriber may close the client, which cancels it.
    this.#timer = backoff!.scheduler.schedule(() => {
      this.#timer = null;
      if (this.#closeInfo === null) this.#dial();
    }, delay);
    this.#notifyWritable();
    this.#setStatus({ state: 'reconnecting', attempt, delay, ...outcome(info, error) });
  }

  /** Ends the client: every stream ends, the queue is dropped, nothing stays scheduled. */
  #finish(info: CloseInfo | undefined, error: unknown): void {
    this.#timer?.unsubscribe();
    this.#timer = null;
    const request = this.#closeRequest;
    this.#closeRequest ??= { code: info?.code ?? CloseCode.ABNORMAL, reason: info?.reason ?? '' };
    // Without a connection there was no handshake to cut short: the app's own close is clean, anything else is not.
    const code = request?.code ?? CloseCode.ABNORMAL;
    const closeInfo = (this.#closeInfo = info ?? { code, reason: request?.reason ?? '', wasClean: code !== CloseCode.ABNORMAL });
    const unsent = this.#offline.clear();
    // Settled; now tell.
    if (unsent > 0) this.#report(new FrameDroppedError('closed', unsent));
    this.#notifyWritable();
    if (this.#notifying === 0) this.#writableSubject.complete();
    this.#setStatus({ state: 'closed', attempt: this.#attempt, ...outcome(info, error) });
    this.#status.complete();
    this.#inbound.end(error);
    this.#closed.next(closeInfo);
    this.#closed.complete();
  }

  #setStatus(status: ClientStatus): void {
    this.#status.next(status);
  }

  #writableNow(): boolean {
    return this.#closeRequest === null && this.#socketWritable && this.#offline.length === 0 && this.#socket?.state === 'open';
  }

  /** Tells `writable$` the new value, once the state that makes it is settled. */
  #notifyWritable(): void {
    const subject = this.#writableSubject;
    const writable = this.#closeInfo === null && this.#writableNow();
    if (writable === subject.value || subject.isStopped) return;
    this.#notifying++;
    try {
      subject.next(writable);
    } finally {
      this.#notifying--;
    }
    // Closed while subscribers were being told: complete once every one of them has the value.
    if (this.#notifying === 0 && this.#closeInfo !== null) subject.complete();
  }
}

/**
 * The client's inbound hold: frames of connections that ended before anyone
 * subscribed. Bounded by `inboundHold` frames: past it the oldest are
 * discarded and reported (`FrameDroppedError('unread')` on `errors$`).
 */
class ClientInbound extends Held<Inbound> {
  readonly #max: number;
  readonly #report: (error: FrameDroppedError) => void;
  discarded = 0;

  constructor(max: number, report: (error: FrameDroppedError) => void) {
    super();
    this.#max = max;
    this.#report = report;
  }

  protected override held(): void {
    if (this.length <= this.#max) return;
    this.forgetOldest();
    this.discarded++;
    this.#report(new FrameDroppedError('unread', 1));
  }
}

/** What a connection's end means to the client: nothing after a normal close, else the error that explains it. */
function failureOf(info: CloseInfo): RxwsError | undefined {
  if (info.error instanceof HeartbeatTimeoutError) return info.error;
  const normal = info.wasClean && (info.code === CloseCode.NORMAL || info.code === CloseCode.GOING_AWAY || info.code === CloseCode.NO_STATUS);
  return normal ? undefined : new SocketCloseError(info, info.error === undefined ? undefined : { cause: info.error });
}

/** The `lastClose` and `error` of a status, without keys for what is unknown (statuses compare and print cleanly). */
function outcome(info: CloseInfo | undefined, error: unknown): Pick<ClientStatus, 'lastClose' | 'error'> {
  return { ...(info && { lastClose: info }), ...(error !== undefined && { error }) };
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
