import type { IncomingMessage } from 'node:http';
import { asyncScheduler, AsyncSubject, BehaviorSubject, Observable, Subject, type ObservableInput, type Observer, type SchedulerLike } from 'rxjs';
import { WebSocket } from 'ws';
import { CloseCode, Defaults, type SocketState } from '../constants';
import { clip, describe, FrameDroppedError, InvalidArgumentError, SocketClosedError, type HeartbeatTimeoutError, type RxjsWsError } from '../errors';
import { processWith, type ProcessOptions } from '../operators/process';
import type { CloseInfo, LogEvent, SocketStats } from '../types';
import type { Inbound } from './types';
import { utf8Length } from '../utf8';
import { expectInteger, validateClose } from '../validation';
import { resolveHeartbeat, SocketHeartbeat, type HeartbeatOptions } from './heartbeat';
import { current } from './held';
import { InboundChannel } from './inbound';
import { OutboundChannel, resolveOutbound, type OutboundOptions, type ResolvedOutbound } from './outbound';
import { invalidFrame } from './frames';
import { RateLimiter, resolveRate, TokenBucket, type RateLimitOptions } from './rate';
import type { Outbound } from './types';
import { limitFragments, peerOf, shareReads, pendingPongs, receiverCost, resumeInflation, senderBytes, stopListening, unwatchPeerClose, unwatchTransport, watchPeerClose, watchTransport } from './ws-internals';

/** Options for wrapping one `ws` socket. */
export interface RxSocketOptions<A = undefined> {
  /** Outbound flow control (policy and limits). */
  readonly outbound?: OutboundOptions;
  /**
   * Inbound frames held while `messages$` has no subscriber; at this many
   * (or 1 MiB of them) the socket stops reading (TCP slows the peer) until
   * someone subscribes.
   * @default 1024
   */
  readonly inboundHold?: number;
  /**
   * Protocol heartbeat: ping after `interval` ms of quiet, terminate when a
   * ping is unanswered for `timeout` ms (`close$` reports 1006 "Heartbeat
   * timeout" with the `HeartbeatTimeoutError` as `error`). Off unless given
   * here; `serve()` and `connect()` turn it on by default.
   * @default false
   */
  readonly heartbeat?: HeartbeatOptions | false;
  /** Inbound rate limit: close (1008) or pause a peer that sends too much. @default none */
  readonly rateLimit?: RateLimitOptions;
  /** @internal One line (and its event) for each close rxjs-ws itself decides (rate limit, outbound overflow). */
  readonly log?: (line: string, event: LogEvent) => void;
  /** The HTTP upgrade request, kept on the socket (server sockets; `serve({ keepRequest: true })`). */
  readonly request?: IncomingMessage;
  /** What the server's `authenticate` hook returned for this socket. */
  readonly auth?: A;
  /** The URL: the upgrade request's path and query on a server, the address dialled on a client. */
  readonly url?: string;
  /** The peer's IP address. */
  readonly remoteAddress?: string;
  /** @internal The server's bookkeeping: told when the socket has closed (before anyone else is) and of rate-limit hits. */
  readonly host?: SocketHost;
  /**
   * Answers a browser client's heartbeat: a text frame equal to `ping` is
   * answered with `pong` and kept from `messages$` (browsers cannot send
   * protocol pings; see the browser `connect()`). `serve()` turns it on.
   * @default false
   */
  readonly appPing?: { readonly ping: string; readonly pong: string } | false;
  /** @internal The server's memory budget, told what this socket holds as it changes. */
  readonly budget?: MemoryAccount;
  /**
   * @internal A message may come in `Defaults.freeFragments` fragments, plus
   * one per `Defaults.minFragmentBytes` bytes it carries; past that ws closes
   * with 1008 "Too many message fragments" (`serve()` sets it).
   */
  readonly limitFragments?: boolean;
  /** @internal Reads share each turn of the event loop with the server's other sockets (`serve()` sets it). */
  readonly shareReads?: boolean;
  /**
   * @internal Takes the frames that were accepted but never handed to the
   * connection when it ended (a client puts them back in its offline queue);
   * without it they are reported as `FrameDroppedError('closed')`.
   */
  readonly onUnsent?: (frames: Outbound[]) => void;
}

/** @internal What a socket tells the server that owns it: one object for all of its sockets. */
export interface SocketHost {
  /** The socket has closed; nobody has been told yet. */
  closed(socket: RxSocket<never>): void;
  /** The socket went over its rate limit (and was paused or closed for it). */
  rateLimited(): void;
  /** A frame was refused after `closed()` (its stats were taken then): counted once, here. */
  refusedAfterClose(): void;
}

/** @internal What a socket tells the server's memory budget. */
export interface MemoryAccount {
  change(socket: RxSocket<never>, was: number, cost: number): void;
  release(socket: RxSocket<never>): void;
}


const kSocket = Symbol('rxjs-ws.socket');
type Tagged = WebSocket & { [kSocket]?: RxSocket<unknown> };

/** Close codes a peer's failure maps to, by `ws` (or zlib) error code; 1002 otherwise. */
const FAILURE_CODES: Readonly<Record<string, number>> = {
  WS_ERR_INVALID_UTF8: CloseCode.INVALID_PAYLOAD,
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: CloseCode.MESSAGE_TOO_BIG,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: CloseCode.MESSAGE_TOO_BIG,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: CloseCode.POLICY_VIOLATION,
  // A compressed message that does not inflate (zlib's codes): ws fails the connection with 1007.
  Z_DATA_ERROR: CloseCode.INVALID_PAYLOAD,
  Z_BUF_ERROR: CloseCode.INVALID_PAYLOAD,
  Z_NEED_DICT: CloseCode.INVALID_PAYLOAD,
};

/** Bits of `RxSocket`'s `#flags`. */
const enum Flag {
  limitFragments = 1,
  shareReads = 2,
  /** close() was called (or the socket closed): no frame is taken any more. */
  closing = 4,
  /** Frames read from now on are not delivered (terminate(), a policy close). */
  discarding = 8,
  terminated = 16,
  /** This socket's end is in the log already. */
  endLogged = 32,
  /** A change is under way that tells writable$ once it is complete. */
  settling = 64,
  /** Cut off (evicted, or a flood): closed with 1008 and no longer read. */
  cut = 128,
  opened = 256,
  reading = 512,
  /** #finish has told close$ and messages$: writable$ may say its last. */
  writableLast = 1024,
}

/**
 * A `ws` WebSocket as RxJS streams: `messages$` in, the socket itself as the
 * `Observer` out, `close$` once at the end.
 *
 * Reading never waits on writing unless you ask (`outbound.pauseReading`);
 * every close completes `messages$`, and `close$` says how it ended; every
 * frame the socket accepted is sent, or reported on `errors$`.
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
  readonly #in: InboundChannel;
  readonly #out: OutboundChannel;
  readonly #limits: ResolvedOutbound;
  readonly #rate: RateLimiter | null;
  #beat: SocketHeartbeat | null = null;
  readonly #heartbeatConfig: ReturnType<typeof resolveHeartbeat>;
  readonly #host: SocketHost | undefined;
  readonly #onUnsent: ((frames: Outbound[]) => void) | undefined;
  readonly #budget: MemoryAccount | undefined;
  /** The socket's yes/no states, one bit each (see `Flag`): one field instead of eleven. */
  #flags: number = Flag.reading;
  #is(flag: Flag): boolean {
    return (this.#flags & flag) !== 0;
  }
  #mark(flag: Flag, on: boolean): void {
    this.#flags = on ? this.#flags | flag : this.#flags & ~flag;
  }
  readonly #appPing: AppPing | null;
  readonly #log: ((line: string, event: LogEvent) => void) | undefined;
  /** Time source of the socket's own budgets (pings). */
  readonly #scheduler: SchedulerLike;
  #controls: TokenBucket | null = null;
  #remoteAddress: string | undefined;
  #remotePort: number | undefined;
  #closeInfo: CloseInfo | null = null;
  #error: Error | undefined;
  #timedOut: HeartbeatTimeoutError | null = null;
  /** A close requested before the handshake finished, sent once it has. */
  #pendingClose: { code: number; reason: string } | null = null;
  /** The code this side ended the connection with, without a handshake (a cut-off). */
  #failedWith: { code: number; reason: string } | null = null;
  /** What this socket last told the memory budget it holds. */
  #cost = 0;
  #backlogs = 0;
  #received = 0;
  #sent = 0;
  #refused = 0;
  #dropped = 0;
  #discarded = 0;
  #closeSubject: AsyncSubject<CloseInfo> | null = null;
  /** writable$ notifications in progress (a subscriber may end the socket from inside one). */
  #notifying = 0;
  #errorSubject: Subject<RxjsWsError> | null = null;
  #writableSubject: BehaviorSubject<boolean> | null = null;
  #close$: Observable<CloseInfo> | undefined;
  #errors$: Observable<RxjsWsError> | undefined;
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
    this.#limits = resolveOutbound(options.outbound);
    const hold = options.inboundHold === undefined ? Defaults.inboundHoldMessages : expectInteger('inboundHold', options.inboundHold, 1);
    this.#heartbeatConfig = resolveHeartbeat(options.heartbeat ?? false);
    const rate = resolveRate(options.rateLimit);
    this.request = options.request;
    this.auth = options.auth as A;
    this.url = options.url ?? (ws.url || undefined);
    this.#remoteAddress = options.remoteAddress;
    this.#host = options.host;
    this.#onUnsent = options.onUnsent;
    this.#budget = options.budget;
    if (options.limitFragments) this.#flags |= Flag.limitFragments;
    if (options.shareReads) this.#flags |= Flag.shareReads;
    const appPing = options.appPing;
    this.#appPing = appPing ? resolveAppPing(appPing) : null;
    this.#log = options.log;
    this.#ws = ws as Tagged;
    this.#in = new InboundChannel(this, hold);
    this.#out = new OutboundChannel(ws, this, this.#limits);
    this.#rate = rate === null ? null : new RateLimiter(rate, this);
    this.#scheduler = rate?.scheduler ?? this.#heartbeatConfig?.scheduler ?? asyncScheduler;
    if (ws.readyState === WebSocket.CLOSED) {
      this.#finish({ code: CloseCode.ABNORMAL, reason: '', wasClean: false });
      return;
    }
    this.#ws[kSocket] = this as RxSocket<unknown>;
    ws.binaryType = 'nodebuffer'; // binary frames are Buffers, whatever the ws was set to
    ws.on('message', onMessage);
    ws.on('close', onClose);
    ws.on('error', onError);
    ws.on('ping', onPing);
    ws.on('pong', onPong);
    if (ws.readyState === WebSocket.OPEN) this.#opened_();
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

  /** The wrapped `ws` WebSocket, for what rxjs-ws does not cover. */
  get ws(): WebSocket {
    return this.#ws;
  }

  /**
   * Inbound frames: text as `string`, binary as `Buffer`. Hot and shared by
   * all subscribers. Frames that arrive while nobody subscribes are held for
   * the next subscriber (and the socket stops reading past `inboundHold`).
   * Completes when the socket closes, however it closed (see `close$`); it
   * never errors, so a peer can never make it throw into a subscriber
   * without an error callback.
   */
  get messages$(): Observable<Inbound> {
    return this.#in.stream;
  }

  /** Emits `{ code, reason, wasClean, error? }` once when the socket has closed, then completes; replayed to late subscribers. */
  get close$(): Observable<CloseInfo> {
    return (this.#close$ ??= new Observable<CloseInfo>((subscriber) => {
      const info = this.#closeInfo;
      if (info === null) return (this.#closeSubject ??= new AsyncSubject()).subscribe(subscriber);
      subscriber.next(info);
      subscriber.complete();
      return undefined;
    }));
  }

  /**
   * Frames that were not sent or not delivered, as they happen: refused once
   * closing (`SocketClosedError`), refused or dropped by the outbound policy
   * (`BackpressureError`, `FrameDroppedError`), left unsent when the
   * connection ended (`FrameDroppedError('closed')`), not a frame
   * (`InvalidFrameError`). It never errors, and it does not complete when the
   * socket closes, since frames offered to a closed socket are reported here
   * too: end your subscription with the socket's owner.
   */
  get errors$(): Observable<RxjsWsError> {
    return (this.#errors$ ??= new Observable<RxjsWsError>((subscriber) => (this.#errorSubject ??= new Subject()).subscribe(subscriber)));
  }

  /**
   * `true` while frames go straight to the connection, `false` while they
   * queue (the peer reads slower than we write), before the socket opens and
   * once closing. Emits the current value first, then changes; completes on
   * close.
   *
   * @example
   * // wait for room before the next chunk
   * socket.writable$.pipe(filter(Boolean), take(1))
   */
  get writable$(): Observable<boolean> {
    return (this.#writable$ ??= new Observable<boolean>((subscriber) => {
      if (this.#closeInfo === null) {
        // ws may have moved on without a word (the peer's close frame): start from the truth.
        this.#notifyWritable();
      }
      // A subscriber told of that may have ended the socket.
      if (this.#closeInfo === null) {
        return current(this.#writableSubject ?? this.#watchWritable(), () => this.#writable()).subscribe(subscriber);
      }
      subscriber.next(false);
      subscriber.complete();
      return undefined;
    }));
  }

  /** `'connecting' | 'open' | 'closing' | 'closed'`. */
  get state(): SocketState {
    if (this.#closeInfo !== null) return 'closed';
    if (this.#is(Flag.closing) || this.#ws.readyState > WebSocket.OPEN) return 'closing';
    return this.#is(Flag.opened) ? 'open' : 'connecting';
  }

  /** How the socket closed, or `null` while it has not. */
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }

  /** Bytes accepted but not yet written to the network: rxjs-ws's queue plus `ws`'s buffer (its compressor's included). */
  get bufferedAmount(): number {
    return this.#out.queuedBytes + this.#ws.bufferedAmount;
  }

  /** Traffic counters. */
  get stats(): SocketStats {
    return { received: this.#received, sent: this.#sent, refused: this.#refused, dropped: this.#dropped, discarded: this.#discarded };
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
   * socket is closing, `BackpressureError` when the queue is full (policy
   * `error`), `InvalidFrameError` for a value that is not a frame.
   */
  send(frame: Outbound): void {
    const error = this.#write(frame);
    if (error !== undefined) {
      this.#countRefused();
      throw error;
    }
  }

  /**
   * Starts the closing handshake: queued frames go first, then the close
   * frame. Before the socket has opened, the close waits for the open (frames
   * offered meanwhile go first). Idempotent: later calls do nothing. Throws
   * `InvalidArgumentError` for a code an endpoint may not send or a reason
   * over 123 bytes. Every inbound bound still holds while closing.
   */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    validateClose(code, reason);
    if (this.#is(Flag.closing) || this.#closeInfo !== null) return;
    this.#mark(Flag.closing, true);
    if (this.#is(Flag.opened)) this.#sendClose(code, reason);
    else this.#pendingClose = { code, reason };
    this.#notifyWritable();
  }

  /**
   * Destroys the connection at once, without a closing handshake (`close$`
   * reports 1006). Frames still arriving from the same read are discarded;
   * frames held for a subscriber stay for it.
   */
  terminate(): void {
    if (this.#closeInfo !== null || this.#is(Flag.terminated)) return;
    this.#mark(Flag.closing, true);
    this.#mark(Flag.terminated, true);
    this.#stopDelivering();
    this.#ws.terminate();
    this.#notifyWritable();
  }

  /**
   * Runs `handler` for every inbound frame, at most `concurrency` at a time,
   * and stops reading from the peer while more than `highWaterMark` frames
   * wait for it, so a fast peer is slowed by TCP instead of filling memory.
   * Every frame is handled exactly once, in arrival order, including frames
   * that arrived before the socket closed; it completes after the last one.
   *
   * @example
   * socket.process((frame) => db.save(frame), { concurrency: 4 }).subscribe({ error: log });
   */
  process<R>(handler: (frame: Inbound, index: number) => ObservableInput<R>, options?: ProcessOptions): Observable<R> {
    return processWith(this.messages$, handler, options, {
      pause: () => this.#backlog(1),
      resume: () => this.#backlog(-1),
    });
  }

  // ---- what the parts tell the socket (internal: not part of the API) ----

  /** @internal */
  holdChanged(): void {
    this.#updateReading();
    this.#account();
  }

  /** @internal */
  congestionChanged(): void {
    this.#updateReading();
    this.#account();
    this.#notifyWritable();
  }

  /** @internal */
  outboundTaken(): void {
    this.#sent++;
  }

  /** @internal */
  outboundSent(): void {
    if (this.#closeInfo === null) this.#account();
  }

  /** @internal */
  outboundDropped(error: FrameDroppedError): void {
    this.#report(error);
  }

  /** @internal */
  outboundOverflow(report: FrameDroppedError): void {
    this.#logEnd(CloseCode.TRY_AGAIN_LATER, 'outbound queue full');
    // Closing before the drop is told, and the drop told before reading resumes or writable$ hears of it:
    // frames read on resuming reach subscribers that may send (refused) and must not come first.
    this.#settle(() => this.close(CloseCode.TRY_AGAIN_LATER, 'Outbound queue full'));
    this.#report(report);
    this.#updateReading();
    this.#account(); // the queue it let go of is memory freed now
    this.#notifyWritable();
  }

  /** @internal */
  rateDeliver(frame: Inbound): void {
    if (this.#is(Flag.discarding)) this.#discarded++;
    else this.#in.push(frame);
  }

  /** @internal */
  rateHeld(): void {
    this.#host?.rateLimited();
  }

  /** @internal */
  rateExceeded(onData: boolean): void {
    this.#host?.rateLimited();
    if (onData) this.#discarded++;
    this.#violated('Rate limit exceeded', 'rate limit exceeded');
  }

  /** @internal */
  get drains(): number {
    return this.#out.drains;
  }

  /** @internal */
  get pausedFor(): 'own' | 'unread' | null {
    if (this.#is(Flag.reading)) return null;
    if (this.#in.full || this.#backlogs > 0) return 'unread';
    return this.#rate?.holding === true ? 'own' : null;
  }

  /** @internal */
  ping(): void {
    this.#ws.ping();
  }

  /** @internal */
  heartbeatTimeout(error: HeartbeatTimeoutError): void {
    this.#timedOut = error;
    this.terminate();
  }

  /** @internal ws 'message' */
  receive(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    this.#beat?.frame();
    const ping = this.#appPing;
    if (ping !== null && !isBinary && (data as Buffer).length === ping.bytes && data.toString() === ping.ping) {
      // A browser's heartbeat: answered, counted as a control frame, kept from the app.
      if (!this.#control(ping.bytes, 'Too many pings') && !this.#is(Flag.closing)) this.#out.write(ping.pong);
      return;
    }
    this.#received++;
    if (this.#is(Flag.discarding)) {
      this.#discarded++;
      return;
    }
    const frame = isBinary ? toBuffer(data) : data.toString();
    if (this.#rate === null) this.#in.push(frame);
    else this.#rate.push(frame, Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength);
  }

  /** @internal ws 'ping' (ws has answered it already: autoPong) */
  pinged(data: Buffer): void {
    this.#beat?.frame();
    if (this.#control(data.length, 'Too many pings')) return;
    if (pendingPongs(this.#ws) >= Defaults.pongBacklog) this.#cutOff('Too many pings', 'too many pongs owed');
  }

  /** @internal ws 'pong' */
  ponged(data: Buffer): void {
    this.#beat?.pong();
    this.#control(data.length, 'Too many pongs');
  }

    /** @internal The TCP socket failed (ws ends the connection without an 'error' of its own). */
  transportFailed(error: Error): void {
    this.#error ??= error;
  }

  /** @internal A read was parsed: tell the memory budget what the peer makes us hold now. */
  transportRead(): void {
    this.#account();
  }

  /**
   * @internal Bytes the peer makes the server hold for this socket: frames held
   * for a subscriber, the outbound queue, what waits in ws's compressor, and
   * what ws's receiver holds of an unfinished message (inflated, when
   * compressed; with the overhead of each piece).
   */
  memoryCost(): number {
    if (this.#closeInfo !== null) return 0;
    return this.#in.bytes + this.#out.queuedBytes + senderBytes(this.#ws) + receiverCost(this.#ws);
  }

  /** @internal The server's memory budget evicts this socket: close it with 1008 and cut it off now. */
  evict(): void {
    if (this.#closeInfo !== null || this.#is(Flag.cut)) return;
    this.#cutOff('Server memory budget exceeded', `server memory budget: it held ${(this.memoryCost() / 1048576).toFixed(1)} MiB`);
  }

  /** @internal ws 'error' (always followed by 'close') */
  failed(error: Error): void {
    this.#error ??= error;
  }

  /** @internal The peer's close frame arrived: ws is closing, and takes no more frames. */
  peerClosing(): void {
    this.#notifyWritable();
  }

  /** @internal ws 'open' (or wrapped open) */
  opened(): void {
    this.#opened_();
  }

  /** @internal ws 'close' */
  closed(code: number, reasonBuffer: Buffer): void {
    if (this.#timedOut !== null) {
      return this.#finish({ code: CloseCode.ABNORMAL, reason: 'Heartbeat timeout', wasClean: false, error: this.#timedOut });
    }
    // No closing handshake finished, whatever ws parsed after the terminate (the peer's close frame in the same read).
    if (this.#is(Flag.terminated)) return this.#finish({ code: CloseCode.ABNORMAL, reason: '', wasClean: false });
    if (this.#failedWith !== null) return this.#finish({ ...this.#failedWith, wasClean: false });
    const error = this.#error;
    let reason = reasonBuffer.toString();
    const wsCode = (error as { code?: string } | undefined)?.code;
    if (code === CloseCode.ABNORMAL && wsCode !== undefined && (wsCode.startsWith('WS_ERR_') || FAILURE_CODES[wsCode] !== undefined)) {
      // The peer broke the protocol and we failed the connection: report the code we sent.
      code = FAILURE_CODES[wsCode] ?? CloseCode.PROTOCOL_ERROR;
      reason = error!.message;
    }
    const wasClean = code !== CloseCode.ABNORMAL && error === undefined;
    this.#finish(error === undefined ? { code, reason, wasClean } : { code, reason, wasClean, error });
  }

  // ---- private ----

  /** One log line (and event) for how this socket ended, said once (by the first that knows why). */
  #logEnd(code: number, why: string): void {
    if (this.#is(Flag.endLogged)) return;
    this.#mark(Flag.endLogged, true);
    const log = this.#log;
    if (log === undefined) return;
    const address = this.remoteAddress ?? 'unknown';
    log(`socket from ${address} closed ${code}${why ? ` (${why})` : ''}`, { event: 'socket-closed', code, reason: why, address, path: pathOf(this.url) });
  }

  /**
   * The peer floods us (control frames, tiny fragments) or holds too much:
   * close with 1008 saying why, and stop reading it at once rather than parse
   * the rest of the flood while waiting for its close frame. Its outbound queue
   * is memory freed now: what it held is reported.
   */
  #cutOff(reason: string, logged: string): void {
    if (this.#closeInfo !== null || this.#is(Flag.cut)) return;
    this.#mark(Flag.cut, true);
    this.#logEnd(CloseCode.POLICY_VIOLATION, logged);
    // Cut off and closing before anyone is told (writable$ included): a subscriber told below finds the socket closing.
    this.#mark(Flag.closing, true);
    this.#failedWith = { code: CloseCode.POLICY_VIOLATION, reason };
    let unsent: Outbound[] = [];
    this.#settle(() => {
      unsent = this.#out.takeUnsent();
      if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(CloseCode.POLICY_VIOLATION, reason);
      stopListening(this.#ws);
    });
    // What it let go of is told first, before the frames read earlier: a subscriber handed one may end the socket.
    if (unsent.length > 0) this.#report(new FrameDroppedError('closed', unsent.length));
    this.#stopDelivering();
    this.#notifyWritable();
  }

  /** The peer broke a policy: from now on nothing it sends is delivered, and the socket closes with 1008 saying why. */
  #violated(reason: string, logged: string): void {
    if (this.#is(Flag.discarding)) return;
    this.#mark(Flag.discarding, true);
    this.#logEnd(CloseCode.POLICY_VIOLATION, logged);
    // Closing first: whoever is told of the frames read before (held by the rate limit) sees the socket closing.
    if (!this.#is(Flag.closing)) this.close(CloseCode.POLICY_VIOLATION, reason);
    this.#stopDelivering();
  }

  /**
   * A control frame from the peer: it counts against the control budget
   * (pings and pongs, `Defaults.controlFramesPerSecond`) and the rate limit.
   * Returns whether the socket closed for it.
   */
  #control(size: number, reason: string): boolean {
    if (this.#is(Flag.discarding)) return true;
    const budget = (this.#controls ??= new TokenBucket(Defaults.controlFramesPerSecond, Infinity, this.#scheduler));
    if (budget.take(0) > 0) {
      this.#cutOff(reason, reason.toLowerCase());
      return true;
    }
    this.#rate?.control(size);
    return this.#is(Flag.discarding);
  }

  /** Tells the memory budget what this socket holds, when it changed. */
  #account(): void {
    const budget = this.#budget;
    if (budget === undefined) return;
    const cost = this.memoryCost();
    const was = this.#cost;
    if (cost === was) return;
    this.#cost = cost;
    budget.change(this as unknown as RxSocket<never>, was, cost);
  }

  /** Nothing read from now on is delivered; frames read before (waiting on the rate limit) still are. */
  #stopDelivering(): void {
    this.#mark(Flag.discarding, true);
    const rate = this.#rate;
    if (rate !== null) {
      // One at a time, each out of the rate limit's hold before anyone is told of it: a subscriber may read
      // more meanwhile (discarded), or end the socket (#finish hands the rest over).
      for (let frame = rate.shift(); frame !== undefined; frame = rate.shift()) this.#in.push(frame);
      rate.dispose();
    }
    this.#updateReading();
  }

  #readPeer(): void {
    const peer = peerOf(this.#ws);
    this.#remoteAddress ??= peer.address;
    this.#remotePort ??= peer.port;
  }

  #opened_(): void {
    if (this.#is(Flag.opened) || this.#closeInfo !== null) return;
    // Every part in place before anything can notify (the queued frames going out may).
    this.#mark(Flag.opened, true);
    if (this.#writableSubject !== null) watchPeerClose(this.#ws, this); // else when writable$ is first watched
    if (this.#is(Flag.shareReads)) shareReads(this.#ws); // first: it takes the place of ws's own 'data' listener
    watchTransport(this.#ws, this, this.#budget !== undefined);
    if (this.#is(Flag.limitFragments)) limitFragments(this.#ws);
    if (this.#heartbeatConfig !== null) this.#beat = new SocketHeartbeat(this, this.#heartbeatConfig);
    this.#updateReading();
    this.#out.open();
    if (this.#closeInfo !== null) return; // a subscriber ended the socket meanwhile
    const pending = this.#pendingClose;
    this.#pendingClose = null;
    if (pending !== null) this.#sendClose(pending.code, pending.reason);
    this.#notifyWritable();
  }

  #sendClose(code: number, reason: string): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#out.flushAll();
    this.#ws.close(code, reason);
    this.#updateReading();
  }

  #write(frame: Outbound): RxjsWsError | undefined {
    // ws drops frames silently once CLOSING; refuse them here instead.
    if (this.#is(Flag.closing) || this.#ws.readyState > WebSocket.OPEN) {
      // The refusal says the state the frame met: a writable$ subscriber told below may end the socket.
      const error = new SocketClosedError(this.#closeInfo);
      this.#notifyWritable(); // in case ws closed without telling us yet
      return error;
    }
    const invalid = invalidFrame(frame);
    if (invalid !== undefined) return invalid;
    return this.#out.write(frame) ?? undefined; // null: dropped by the policy, reported and counted already
  }

  #report(error: RxjsWsError): void {
    if (error instanceof FrameDroppedError) this.#dropped += error.count;
    else this.#countRefused();
    this.#errorSubject?.next(error);
  }

  /** One frame refused; once the host has taken this socket's stats (closed), it is told of each one after. */
  #countRefused(): void {
    this.#refused++;
    if (this.#closeInfo !== null) this.#host?.refusedAfterClose();
  }

  #writable(): boolean {
    return this.#is(Flag.opened) && !this.#is(Flag.closing) && !this.#out.congested && this.#ws.readyState === WebSocket.OPEN;
  }

  /**
   * Makes `change` with reading and `writable$` held back: whoever is told of
   * it afterwards finds it complete. The caller re-derives both once it has
   * told what must come first.
   */
  #settle(change: () => void): void {
    const settling = this.#is(Flag.settling);
    this.#mark(Flag.settling, true);
    try {
      change();
    } finally {
      this.#mark(Flag.settling, settling);
    }
  }

  /** The state behind `writable$`, made when it is first watched: only then does the peer's close frame need telling. */
  #watchWritable(): BehaviorSubject<boolean> {
    const subject = (this.#writableSubject = new BehaviorSubject(this.#writable()));
    if (this.#is(Flag.opened)) watchPeerClose(this.#ws, this);
    return subject;
  }

  /** Tells `writable$` the new value, once the state that makes it is settled. */
  #notifyWritable(): void {
    if (this.#is(Flag.settling)) return; // told once the change is complete
    const subject = this.#writableSubject;
    // Once closed, writable$ is told last, after close$ and messages$ (#finish).
    if (subject === null || (this.#closeInfo !== null && !this.#is(Flag.writableLast))) return;
    const writable = this.#writable();
    if (writable === subject.value) return;
    this.#notifying++;
    try {
      subject.next(writable);
    } finally {
      this.#notifying--;
    }
    // Closed while subscribers were being told: complete once every one of them has the value.
    if (this.#notifying === 0 && this.#closeInfo !== null) subject.complete();
  }

  #backlog(delta: 1 | -1): void {
    this.#backlogs += delta;
    this.#updateReading();
  }

  /** Reads or stops reading, from the state of every part; settled before anyone is told of the change that led here. */
  #updateReading(): void {
    if (!this.#is(Flag.opened) || this.#closeInfo !== null || this.#is(Flag.cut) || this.#is(Flag.settling)) return; // settling: re-derived when done
    const pause =
      this.#in.full || this.#backlogs > 0 || (this.#rate?.holding ?? false) || (this.#limits.pauseReading && this.#out.congested);
    if (pause !== this.#is(Flag.reading)) return;
    this.#mark(Flag.reading, !pause);
    if (pause) this.#ws.pause();
    else {
      this.#ws.resume();
      resumeInflation(this.#ws);
    }
  }

  /** Releases everything rxjs-ws holds for this socket, then ends every stream. */
  #finish(info: CloseInfo): void {
    const ws = this.#ws;
    this.#beat?.stop();
    this.#beat = null;
    ws.removeListener('message', onMessage);
    ws.removeListener('close', onClose);
    ws.removeListener('error', onError);
    ws.removeListener('open', onOpen);
    ws.removeListener('ping', onPing);
    ws.removeListener('pong', onPong);
    unwatchPeerClose(ws);
    unwatchTransport(ws);
    ws[kSocket] = undefined; // not `delete`: that would turn every closed ws into a slow dictionary object
    const held = this.#rate?.dispose() ?? [];
    this.#closeInfo = info;
    if (!info.wasClean && !this.#is(Flag.endLogged)) this.#logEnd(info.code, info.reason);
    this.#mark(Flag.closing, true);
    this.#pendingClose = null;
    const unsent = this.#out.takeUnsent();
    // Counted before the host takes this socket's stats; reported below, once settled.
    const dropped = unsent.length > 0 && this.#onUnsent === undefined ? new FrameDroppedError('closed', unsent.length) : null;
    if (dropped !== null) this.#dropped += dropped.count;
    this.#budget?.release(this as unknown as RxSocket<never>);
    this.#host?.closed(this as unknown as RxSocket<never>);
    // Settled; now tell. Frames the rate limit held back were read before the end: they are delivered.
    for (const frame of held) this.#in.push(frame);
    if (dropped !== null) this.#errorSubject?.next(dropped);
    else if (unsent.length > 0) this.#onUnsent!(unsent);
    // close$ first: whoever keeps the socket somewhere (a hub's topic) lets go of it before messages$ ends.
    const closeSubject = this.#closeSubject;
    if (closeSubject !== null) {
      closeSubject.next(info);
      closeSubject.complete();
    }
    this.#in.end();
    this.#mark(Flag.writableLast, true);
    this.#notifyWritable();
    if (this.#notifying === 0) this.#writableSubject?.complete();
  }
}

// One set of listener functions for all sockets (`this` is the ws), instead of closures per socket.
function onMessage(this: Tagged, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  this[kSocket]?.receive(data, isBinary);
}
function onClose(this: Tagged, code: number, reason: Buffer): void {
  this[kSocket]?.closed(code, reason);
}
function onError(this: Tagged, err: Error): void {
  this[kSocket]?.failed(err);
}
function onOpen(this: Tagged): void {
  this[kSocket]?.opened();
}
function onPing(this: Tagged, data: Buffer): void {
  this[kSocket]?.pinged(data);
}
function onPong(this: Tagged, data: Buffer): void {
  this[kSocket]?.ponged(data);
}

type AppPing = { readonly ping: string; readonly pong: string; readonly bytes: number };
/** One resolved form for every socket given the same option (a server's sockets): none per socket. */
const appPings = new WeakMap<object, AppPing>();

function resolveAppPing(option: { readonly ping: string; readonly pong: string }): AppPing {
  let resolved = appPings.get(option);
  if (resolved === undefined) {
    resolved = Object.freeze({ ping: option.ping, pong: option.pong, bytes: utf8Length(option.ping) });
    appPings.set(option, resolved);
  }
  return resolved;
}

/** A URL's path without its query (which may carry a token): what a log may say. */
/** The path a socket was opened on, for its log event: without the query, and bounded. */
function pathOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  return clip(q === -1 ? url : url.slice(0, q));
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
