import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Observable, type ObservableInput, type Observer, type SchedulerAction, type Subscription } from 'rxjs';
import { WebSocket } from 'ws';
import { CloseCode, Defaults, Pause, type SocketState } from '../constants';
import { describe, FrameDroppedError, InvalidArgumentError, withoutStack, SocketClosedError, SocketCloseError, type HeartbeatTimeoutError, type RxwsError } from '../errors';
import { Fanout } from './fanout';
import { HeartbeatMonitor, resolveHeartbeat, type HeartbeatOptions, type ResolvedHeartbeat } from './heartbeat';
import { InboundChannel } from './inbound';
import { HeartbeatState } from '../operators/heartbeat';
import { processMessages, type ProcessOptions } from '../operators/process';
import { invalidFrame } from './prepared';
import { OutboundChannel, resolveOutbound, type OutboundHost, type OutboundOptions } from './outbound';
import { RateBucket, resolveRate, type RateLimitOptions, type ResolvedRate } from './rate';
import type { CloseInfo, Inbound, Outbound } from './types';
import { expectInteger, validateClose } from '../validation';

/** Options for wrapping one `ws` socket. */
export interface RxSocketOptions<A = undefined> {
  /** Outbound flow control (policy and limits). */
  readonly outbound?: OutboundOptions;
  /**
   * Inbound frames held while `messages$` has no subscriber; past this many
   * the socket stops reading (TCP slows the peer) until someone subscribes.
   * @default 1024
   */
  readonly inboundHold?: number;
  /**
   * Protocol heartbeat: ping after `interval` ms of quiet, terminate when a
   * ping is unanswered for `timeout` ms (`close$` reports 1006 "Heartbeat
   * timeout", `messages$` errors with `HeartbeatTimeoutError`). Off unless
   * given here; `serve()` and `connect()` turn it on by default.
   * @default false
   */
  readonly heartbeat?: HeartbeatOptions | false;
  /** Inbound rate limit: close (1008) or pause a peer that sends too much. @default none */
  readonly rateLimit?: RateLimitOptions;
  /** @internal One line for each close rxws itself decides (rate limit, outbound overflow). */
  readonly log?: (line: string) => void;
  /** @internal Answer pings here (the ws server runs with autoPong off), closing 1008 on a flood. */
  readonly answerPings?: boolean;
  /** The HTTP upgrade request, kept on the socket (server sockets; `serve({ keepRequest: true })`). */
  readonly request?: IncomingMessage;
  /** What the server's `authenticate` hook returned for this socket. */
  readonly auth?: A;
  /** The URL: the upgrade request's path and query on a server, the address dialled on a client. */
  readonly url?: string;
  /** The peer's IP address. */
  readonly remoteAddress?: string;
  /** @internal Called once when the socket has closed (the server's bookkeeping, without a subscription). */
  readonly onClose?: (socket: RxSocket<never>) => void;
}

/** Counters of one socket's traffic. */
export interface SocketStats {
  /** Frames received. */
  readonly received: number;
  /** Frames handed to the connection (sent or queued). */
  readonly sent: number;
  /** Frames refused (socket closed, queue full, not a frame). */
  readonly refused: number;
  /** Frames discarded by the outbound policy or left unsent at the end. */
  readonly dropped: number;
}


/** Pongs written but not yet flushed, past which a peer's pings are a flood (ws's own guard is 60, then a bare terminate). */
const MAX_PENDING_PONGS = 1024;

const kSocket = Symbol('rxws.socket');
type Tagged = WebSocket & { [kSocket]?: RxSocket<unknown> };

/** Entry points into a socket's private handlers, set by the class's static block. */
interface Handlers {
  message(socket: RxSocket<unknown>, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void;
  close(socket: RxSocket<unknown>, code: number, reason: Buffer): void;
  error(socket: RxSocket<unknown>, err: Error): void;
  open(socket: RxSocket<unknown>): void;
  pong(socket: RxSocket<unknown>): void;
  ping(socket: RxSocket<unknown>, data: Buffer): void;
}
let handlers: Handlers;
let outboundHost: OutboundHost<RxSocket<unknown>>;
let releaseHeld: (this: SchedulerAction<RxSocket<unknown>>, socket?: RxSocket<unknown>) => void;
const holdInbound = (socket: RxSocket<unknown>, on: boolean) => (on ? socket.pause(Pause.Hold) : socket.resume(Pause.Hold));

/** Close codes a peer's failure maps to, by `ws` error code; 1002 otherwise. */
const FAILURE_CODES: Readonly<Record<string, number>> = {
  WS_ERR_INVALID_UTF8: CloseCode.INVALID_PAYLOAD,
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: CloseCode.MESSAGE_TOO_BIG,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: CloseCode.MESSAGE_TOO_BIG,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: CloseCode.POLICY_VIOLATION,
};

/**
 * A `ws` WebSocket as RxJS streams: `messages$` in, the socket itself as the
 * `Observer` out, `close$` once at the end.
 *
 * @example
 * const socket = new RxSocket(ws);
 * socket.messages$.subscribe(socket); // echo: text stays text, binary stays binary
 */
export class RxSocket<A = undefined> implements Observer<Outbound> {
  /** The HTTP upgrade request, on server sockets. */
  readonly request: IncomingMessage | undefined;
  /** What `authenticate` returned for this socket (server sockets). */
  readonly auth: A;
  /** The upgrade request's path and query (server), or the URL dialled (client). */
  readonly url: string | undefined;

  readonly #ws: Tagged;
  readonly #in: InboundChannel<RxSocket<unknown>>;
  readonly #out: OutboundChannel<RxSocket<unknown>>;
  readonly #closed: ((socket: RxSocket<never>) => void) | undefined;
  #remoteAddress: string | undefined;
  #remotePort: number | undefined;
  readonly #log: ((line: string) => void) | undefined;
  readonly #rate: ResolvedRate | null;
  readonly #bucket: RateBucket | null;
  #rateTimer: Subscription | null = null;
  #pendingPongs = 0;
  #pongWritten: (() => void) | null = null;
  /** Frames over the rate limit waiting for budget, as [frame, size, frame, size, …]. */
  #rateHeld: (Inbound | number)[] | null = null;
  readonly #pausesOnCongestion: boolean;
  readonly #heartbeat: ResolvedHeartbeat | null;
  #closeInfo: CloseInfo | null = null;
  #cause: Error | undefined;
  #timedOut: HeartbeatTimeoutError | null = null;
  #closeWatchers: Fanout<CloseInfo> | null = null;
  #errorWatchers: Fanout<RxwsError> | null = null;
  #writableWatchers: Fanout<boolean> | null = null;
  #pauses = 0;
  #backlogs = 0;
  #closing = false;
  #congested = false;
  #beat: HeartbeatState | null = null;
  #alive = false;
  #ponged = false;
  #drainsSeen = 0;
  #pausedAt = -1;
  #received = 0;
  #sent = 0;
  #refused = 0;
  #dropped = 0;
  #close$: Observable<CloseInfo> | undefined;
  #errors$: Observable<RxwsError> | undefined;
  #writable$: Observable<boolean> | undefined;

  /**
   * Wraps `ws` (server- or client-side, in any state). Listeners go on at
   * once, so no frame is lost before `messages$` is first subscribed.
   */
  constructor(ws: WebSocket, options: RxSocketOptions<A> = {}) {
    const w = ws as Partial<Tagged> | null;
    if (w === null || typeof w !== 'object' || typeof w.on !== 'function' || typeof w.send !== 'function' || typeof w.readyState !== 'number') {
      throw new InvalidArgumentError(`Expected \`ws\` to be a WebSocket from 'ws', got ${describe(ws)}`);
    }
    if (w[kSocket] !== undefined) {
      throw new InvalidArgumentError('This WebSocket is already wrapped by an RxSocket: wrap it once and share that RxSocket');
    }
    const limits = resolveOutbound(options.outbound);
    const hold = options.inboundHold === undefined ? Defaults.inboundHoldMessages : expectInteger('inboundHold', options.inboundHold, 1);
    this.#heartbeat = resolveHeartbeat(options.heartbeat ?? false);
    this.request = options.request;
    this.auth = options.auth as A;
    this.url = options.url ?? (ws.url || undefined);
    this.#remoteAddress = options.remoteAddress;
    this.#closed = options.onClose;
    this.#log = options.log;
    this.#rate = resolveRate(options.rateLimit);
    this.#bucket = this.#rate === null ? null : new RateBucket(this.#rate);
    this.#ws = ws as Tagged;
    this.#pausesOnCongestion = limits.policy === 'buffer';
    this.#in = new InboundChannel<RxSocket<unknown>>(hold, this as RxSocket<unknown>, holdInbound);
    this.#out = new OutboundChannel<RxSocket<unknown>>(ws, this as RxSocket<unknown>, outboundHost, limits);
    if (ws.readyState === WebSocket.CLOSED) {
      this.#finish(CloseCode.ABNORMAL, '', false, undefined);
      return;
    }
    this.#ws[kSocket] = this as RxSocket<unknown>;
    ws.binaryType = 'nodebuffer'; // binary frames are Buffers, whatever the ws was set to
    ws.on('message', onMessage);
    ws.on('close', onClose);
    ws.on('error', onError);
    if (options.answerPings === true) ws.on('ping', onPing);
    if (ws.readyState === WebSocket.OPEN) this.#opened();
    else ws.once('open', onOpen);
  }

  /**
   * The peer's IP address. Read from the connection on first use (a system
   * call that most servers never need) and kept; read it while the socket is
   * open if you will want it after the close.
   */
  get remoteAddress(): string | undefined {
    if (this.#remoteAddress === undefined) this.#readPeer();
    return this.#remoteAddress;
  }

  /** The peer's port, read and kept like `remoteAddress`. */
  get remotePort(): number | undefined {
    if (this.#remotePort === undefined) this.#readPeer();
    return this.#remotePort;
  }

  #readPeer(): void {
    const raw = (this.#ws as unknown as { _socket?: Socket })._socket;
    this.#remoteAddress ??= raw?.remoteAddress;
    this.#remotePort ??= raw?.remotePort;
  }

  /** The wrapped `ws` WebSocket, for what rxws does not cover. */
  get ws(): WebSocket {
    return this.#ws;
  }

  /**
   * Inbound frames: text as `string`, binary as `Buffer`. Hot and shared by
   * all subscribers. Frames that arrive while nobody subscribes are held for
   * the next subscriber (and the socket stops reading past `inboundHold`).
   * Completes on a normal close (1000, 1001, 1005); errors with
   * `SocketCloseError` (or `HeartbeatTimeoutError`) otherwise.
   */
  get messages$(): Observable<Inbound> {
    return this.#in.messages$;
  }

  /** Emits `{ code, reason, wasClean }` once when the socket has closed, then completes; replayed to late subscribers. */
  get close$(): Observable<CloseInfo> {
    return (this.#close$ ??= new Observable<CloseInfo>((subscriber) => {
      if (this.#closeInfo === null) return (this.#closeWatchers ??= new Fanout()).add(subscriber);
      subscriber.next(this.#closeInfo);
      subscriber.complete();
      return undefined;
    }));
  }

  /**
   * Frames that were not sent or not delivered, as they happen: refused after
   * close (`SocketClosedError`), refused or dropped by the outbound policy
   * (`BackpressureError`, `FrameDroppedError`), not a frame (`InvalidFrameError`).
   * Never errors; completes when the socket closes.
   */
  get errors$(): Observable<RxwsError> {
    return (this.#errors$ ??= new Observable<RxwsError>((subscriber) => {
      if (this.#closeInfo === null) return (this.#errorWatchers ??= new Fanout()).add(subscriber);
      subscriber.complete();
      return undefined;
    }));
  }

  /**
   * `true` while frames go straight to the connection, `false` while they
   * queue (the peer reads slower than we write) or once closing. Emits the
   * current value first, then changes; completes on close.
   *
   * @example
   * // wait for room before the next chunk
   * socket.writable$.pipe(filter(Boolean), take(1))
   */
  get writable$(): Observable<boolean> {
    return (this.#writable$ ??= new Observable<boolean>((subscriber) => {
      subscriber.next(this.#writable());
      if (this.#closeInfo === null) return (this.#writableWatchers ??= new Fanout()).add(subscriber);
      subscriber.complete();
      return undefined;
    }));
  }

  /** `'connecting' | 'open' | 'closing' | 'closed'`. */
  get state(): SocketState {
    if (this.#closeInfo !== null) return 'closed';
    if (this.#closing || this.#ws.readyState > WebSocket.OPEN) return 'closing';
    return this.#ws.readyState === WebSocket.OPEN ? 'open' : 'connecting';
  }

  /** How the socket closed, or `null` while it has not. */
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }

  /** Bytes accepted but not yet written to the network: rxws's queue plus `ws`'s buffer. */
  get bufferedAmount(): number {
    return this.#out.queuedBytes + this.#ws.bufferedAmount;
  }

  /** Traffic counters. */
  get stats(): SocketStats {
    return { received: this.#received, sent: this.#sent, refused: this.#refused, dropped: this.#dropped };
  }

  /**
   * Sends a frame (Observer face): never throws. A frame that cannot be sent
   * is reported on `errors$` and counted in `stats.refused`.
   */
  next(frame: Outbound): void {
    const error = this.#write(frame);
    if (error !== undefined) this.#report(error);
  }

  /** Closes with 1011 (`INTERNAL_ERROR`); the error itself is not sent to the peer. */
  error(_err: unknown): void {
    this.close(CloseCode.INTERNAL_ERROR);
  }

  /** Closes with 1000 (`NORMAL`). */
  complete(): void {
    this.close(CloseCode.NORMAL);
  }

  /**
   * Sends a frame, or throws to the caller: `SocketClosedError` once the
   * socket is closing, `BackpressureError` when the queue is full (policies
   * `buffer` and `error`), `InvalidFrameError` for a value that is not a frame.
   */
  send(frame: Outbound): void {
    const error = this.#write(frame);
    if (error !== undefined) {
      this.#refused++;
      throw error;
    }
  }

  /**
   * Starts the closing handshake: queued frames go first, then the close
   * frame. Idempotent: later calls do nothing. Throws `InvalidArgumentError`
   * for a code an endpoint may not send or a reason over 123 bytes.
   */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    validateClose(code, reason);
    if (this.#closing || this.#closeInfo !== null) return;
    this.#closing = true;
    this.#writableWatchers?.next(false);
    this.#out.flushAll();
    this.#ws.close(code, reason);
    // Read again, whatever paused us: the peer's close frame is what ends the handshake.
    if (this.#pauses !== 0) {
      this.#pauses = 0;
      this.#ws.resume();
    }
  }

  /** Destroys the connection at once, without a closing handshake (`close$` reports 1006). */
  terminate(): void {
    if (this.#closeInfo !== null) return;
    this.#closing = true;
    this.#ws.terminate();
  }

  /**
   * Runs `handler` for every inbound frame, at most `concurrency` at a time,
   * and stops reading from the peer while more than `highWaterMark` frames
   * wait for it, so a fast peer is slowed by TCP instead of filling memory.
   * Every frame is handled exactly once, in arrival order.
   *
   * @example
   * socket.process((frame) => db.save(frame), { concurrency: 4 }).subscribe({ error: log });
   */
  process<R>(handler: (frame: Inbound, index: number) => ObservableInput<R>, options?: ProcessOptions): Observable<R> {
    return processMessages(this, handler, options);
  }

  /** @internal Adds a reason to stop reading from the peer. Backlog pauses are counted: each `process()` has its own. */
  pause(reason: Pause): void {
    if (reason === Pause.Backlog && this.#backlogs++ > 0) return;
    const was = this.#pauses;
    this.#pauses |= reason;
    if (was === 0 && this.#ws.readyState === WebSocket.OPEN) this.#ws.pause();
  }

  /** @internal Removes a reason to stop reading; reads again when none is left. */
  resume(reason: Pause): void {
    if (reason === Pause.Backlog && (this.#backlogs === 0 || --this.#backlogs > 0)) return;
    if ((this.#pauses & reason) === 0) return;
    this.#pauses &= ~reason;
    if (this.#pauses === 0 && this.#ws.readyState === WebSocket.OPEN) this.#ws.resume();
  }

  /** @internal One heartbeat step, called by the shared monitor's tick. */
  beat(now: number): void {
    const state = this.#beat;
    const config = this.#heartbeat;
    if (state === null || config === null) return;
    const drains = this.#out.drains;
    // A pause of our own making hides pongs, so it counts as life. A rate-limit pause ends by
    // itself; one because nobody reads (no subscriber, a stuck process()) is excused for
    // 3 × (interval + timeout), then the socket is pinged and judged like any other.
    const ownPause = (this.#pauses & ~Pause.Outbound) !== 0;
    if ((this.#pauses & (Pause.Hold | Pause.Backlog)) === 0) this.#pausedAt = -1;
    else if (this.#pausedAt < 0) this.#pausedAt = now;
    const excused = ownPause && (this.#pausedAt < 0 || now - this.#pausedAt < 3 * (config.interval + config.timeout));
    // Life: a frame or pong since the last tick; or, while congested, the peer reading our bytes.
    const life = this.#ponged || (this.#alive && config.life === 'any');
    if (life || drains !== this.#drainsSeen || excused) {
      this.#alive = this.#ponged = false;
      this.#drainsSeen = drains;
      state.life(now);
    }
    const due = state.step(now, config.interval, config.timeout);
    if (due === 'ping') {
      // Pongs only matter once we ping: most short-lived sockets never need the listener.
      if (state.pings === 1) this.#ws.on('pong', onPong);
      this.#ws.ping();
    } else if (due === 'timeout') {
      this.#timedOut = state.error(config.timeout);
      this.#ws.terminate();
    }
  }

  #write(frame: Outbound): RxwsError | undefined {
    // ws drops frames silently once CLOSING; refuse them here instead.
    if (this.#closing || this.#ws.readyState > WebSocket.OPEN) return new SocketClosedError(this.#closeInfo);
    const invalid = invalidFrame(frame);
    if (invalid !== undefined) return invalid;
    const error = this.#out.write(frame);
    if (error === undefined) this.#sent++;
    return error ?? undefined; // null: dropped by the policy, reported and counted already
  }

  #report(error: RxwsError): void {
    if (error instanceof FrameDroppedError) this.#dropped += error.count;
    else this.#refused++;
    this.#errorWatchers?.next(error);
  }

  #writable(): boolean {
    return !this.#congested && !this.#closing && this.#ws.readyState === WebSocket.OPEN;
  }

  #setCongested(congested: boolean): void {
    this.#congested = congested;
    this.#writableWatchers?.next(this.#writable());
    if (this.#pausesOnCongestion) {
      if (congested) this.pause(Pause.Outbound);
      else this.resume(Pause.Outbound);
    }
  }

  #opened(): void {
    const raw = (this.#ws as unknown as { _socket: Socket })._socket;
    if (this.#pauses !== 0) this.#ws.pause();
    this.#out.open(raw);
    this.#writableWatchers?.next(this.#writable());
    const config = this.#heartbeat;
    if (config !== null) {
      this.#beat = new HeartbeatState(config.scheduler.now());
      HeartbeatMonitor.for(config).add(this);
    }
  }

  /** A Pong for every Ping (RFC 6455 §5.5.2), unless the peer floods us with pings it does not read the answers to. */
  #onPing(data: Buffer): void {
    if (this.#closing || this.#ws.readyState !== WebSocket.OPEN) return;
    if (this.#pendingPongs >= MAX_PENDING_PONGS) {
      this.#log?.(`socket from ${this.remoteAddress ?? 'unknown'} closed 1008 (too many pings)`);
      this.close(CloseCode.POLICY_VIOLATION, 'Too many pings');
      return;
    }
    this.#pendingPongs++;
    this.#ws.pong(data, false, (this.#pongWritten ??= () => void this.#pendingPongs--));
  }

  #onMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    this.#received++;
    this.#alive = true;
    const frame = isBinary ? toBuffer(data) : data.toString();
    if (this.#bucket === null) this.#in.push(frame);
    else this.#limit(frame, Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength);
  }

  /**
   * Passes a frame through the rate limit. Over it: close (1008), or hold the
   * frame (and what follows it from the same read) and stop reading, then
   * release them at the rate: delayed, in order, never dropped.
   */
  #limit(frame: Inbound, size: number): void {
    const late = this.#rateHeld;
    if (late !== null) {
      late.push(frame, size);
      return;
    }
    const wait = this.#bucket!.take(size);
    if (wait === 0 || this.#closing) return this.#in.push(frame);
    if (this.#rate!.policy === 'close') {
      // Delivered like the frames after it (read before our close frame goes out): no gap in the stream.
      this.#in.push(frame);
      this.#log?.(`socket from ${this.remoteAddress ?? 'unknown'} closed 1008 (rate limit exceeded)`);
      this.close(CloseCode.POLICY_VIOLATION, 'Rate limit exceeded');
      return;
    }
    this.#rateHeld = [frame, size];
    this.pause(Pause.Rate);
    this.#rateTimer = this.#rate!.scheduler.schedule(releaseHeld, wait, this as RxSocket<unknown>);
  }

  /** Delivers held frames the budget allows; returns the ms until the next one may go, or 0 when none is left. */
  #release(): number {
    const held = this.#rateHeld!;
    let i = 0;
    let wait = 0;
    while (i < held.length && (wait = this.#bucket!.take(held[i + 1] as number)) === 0) {
      this.#in.push(held[i] as Inbound);
      i += 2;
    }
    held.splice(0, i);
    if (held.length > 0 && this.#closeInfo === null) return wait;
    this.#rateHeld = null;
    this.#rateTimer = null;
    this.resume(Pause.Rate);
    return 0;
  }

  #onClose(code: number, reasonBuffer: Buffer): void {
    if (this.#timedOut !== null) return this.#finish(CloseCode.ABNORMAL, 'Heartbeat timeout', false, this.#timedOut);
    const cause = this.#cause;
    let reason = reasonBuffer.toString();
    const wsCode = (cause as { code?: string } | undefined)?.code;
    if (code === CloseCode.ABNORMAL && wsCode?.startsWith('WS_ERR_')) {
      // The peer broke the protocol and we failed the connection: report the code we sent.
      code = FAILURE_CODES[wsCode] ?? CloseCode.PROTOCOL_ERROR;
      reason = cause!.message;
    }
    const wasClean = code !== CloseCode.ABNORMAL && cause === undefined;
    const normal = wasClean && (code === CloseCode.NORMAL || code === CloseCode.GOING_AWAY || code === CloseCode.NO_STATUS);
    this.#finish(code, reason, wasClean, normal ? null : undefined);
  }

  /** Releases everything rxws holds for this socket and ends every stream. `failure` undefined: derive it. */
  #finish(code: number, reason: string, wasClean: boolean, failure: RxwsError | null | undefined): void {
    const ws = this.#ws;
    if (this.#beat !== null) {
      HeartbeatMonitor.for(this.#heartbeat!).delete(this);
      ws.removeListener('pong', onPong);
      this.#beat = null;
    }
    ws.removeListener('message', onMessage);
    ws.removeListener('close', onClose);
    ws.removeListener('error', onError);
    ws.removeListener('open', onOpen);
    ws.removeListener('ping', onPing);
    ws[kSocket] = undefined; // not `delete`: that would turn every closed ws into a slow dictionary object
    // Frames held back by the rate limit were received: deliver them before the end.
    this.#rateTimer?.unsubscribe();
    this.#rateTimer = null;
    const held = this.#rateHeld;
    this.#rateHeld = null;
    if (held !== null) for (let i = 0; i < held.length; i += 2) this.#in.push(held[i] as Inbound);
    const info: CloseInfo = { code, reason, wasClean };
    this.#closeInfo = info;
    this.#closing = true;
    this.#pauses = 0;
    this.#congested = false;
    const unsent = this.#out.dispose();
    if (unsent > 0) this.#report(new FrameDroppedError('closed', unsent));
    const cause = this.#cause;
    this.#in.end(failure === undefined ? withoutStack(() => new SocketCloseError(info, { cause })) : (failure ?? undefined));
    this.#writableWatchers?.end();
    this.#errorWatchers?.end();
    const watchers = this.#closeWatchers;
    this.#closeWatchers = this.#errorWatchers = this.#writableWatchers = null;
    this.#closed?.(this as unknown as RxSocket<never>);
    if (watchers !== null) {
      watchers.next(info);
      watchers.end();
    }
  }

  static {
    outboundHost = {
      report: (socket, error) => socket.#report(error),
      congestion: (socket, congested) => socket.#setCongested(congested),
      overflow: (socket) => {
        socket.#log?.(`socket from ${socket.remoteAddress ?? 'unknown'} closed 1013 (outbound queue full)`);
        socket.close(CloseCode.TRY_AGAIN_LATER, 'Outbound queue full');
      },
    };
    handlers = {
      message: (socket, data, isBinary) => socket.#onMessage(data, isBinary),
      close: (socket, code, reason) => socket.#onClose(code, reason),
      error: (socket, err) => void (socket.#cause ??= err),
      open: (socket) => socket.#opened(),
      pong: (socket) => void (socket.#ponged = true),
      ping: (socket, data) => socket.#onPing(data),
    };
    releaseHeld = function (this: SchedulerAction<RxSocket<unknown>>, socket) {
      const wait = socket!.#release();
      if (wait > 0) this.schedule(socket, wait);
    };
  }
}

// One set of listener functions for all sockets (`this` is the ws), instead of closures per socket.
function onMessage(this: Tagged, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  const socket = this[kSocket];
  if (socket !== undefined) handlers.message(socket, data, isBinary);
}
function onClose(this: Tagged, code: number, reason: Buffer): void {
  const socket = this[kSocket];
  if (socket !== undefined) handlers.close(socket, code, reason);
}
function onError(this: Tagged, err: Error): void {
  const socket = this[kSocket];
  if (socket !== undefined) handlers.error(socket, err);
}
function onOpen(this: Tagged): void {
  const socket = this[kSocket];
  if (socket !== undefined) handlers.open(socket);
}
function onPing(this: Tagged, data: Buffer): void {
  const socket = this[kSocket];
  if (socket !== undefined) handlers.ping(socket, data);
}
function onPong(this: Tagged): void {
  const socket = this[kSocket];
  if (socket !== undefined) handlers.pong(socket);
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
