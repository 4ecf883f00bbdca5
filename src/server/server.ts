import { createServer, STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { getHeapStatistics } from 'node:v8';
import type { Duplex } from 'node:stream';
import {
  config,
  asyncScheduler,
  defaultIfEmpty,
  from,
  isObservable,
  Observable,
  Subject,
  take,
  timeout,
  TimeoutError,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import { WebSocketServer, type WebSocket } from 'ws';
import { APP_PING, APP_PONG, CloseCode, DEFAULT_INBOUND_HOLD, Defaults, MAX_TIMER_DELAY, readLimits } from '../constants';
import { Held } from '../socket/held';
import { clip, describe, InvalidArgumentError } from '../errors';
import { snapshots } from '../operators/snapshots';
import type { LogEvent } from '../types';
import { ServerCounters, snapshot, type RefusalReason, type ServerMetrics } from './metrics';
import { resolveDeflate, type DeflateOptions } from '../socket/deflate';
import { resolveOutbound, type OutboundOptions } from '../socket/outbound';
import { resolveHeartbeat, type HeartbeatOptions } from '../socket/heartbeat';
import { resolveRate, type RateLimitOptions } from '../socket/rate';
import { RxSocket, type RxSocketOptions } from '../socket/socket';
import { MemoryBudget } from './budget';
import { addressKey, AddressLimits } from './limits';
import { originCheck, pathOf, refuseUpgrade, UpgradeRefusedError, type OriginPolicy } from './upgrade';
import { RESUME_PROTOCOL } from '../resume/link';
import { resolveResume, SessionRegistry, type ResumeOptions } from '../resume/registry';
import type { RxSession } from '../resume/session';
import { expectBoolean, expectFunction, expectInteger, expectObject, expectScheduler, validateClose } from '../validation';

/** What `authenticate` may return: the value itself, a Promise or an Observable of it, or `false` to refuse (401). */
export type AuthResult<A> = A | false | PromiseLike<A | false> | Observable<A | false>;

/** Options of `serve()`. Exactly one of `port`, `server` or `wss`. */
export interface ServeOptions<A = undefined> {
  /** Port for a new HTTP server (0 picks a free one). */
  readonly port?: number;
  /** Host for the new HTTP server. @default '127.0.0.1' */
  readonly host?: string;
  /** An existing HTTP(S) server to attach to (its other routes stay its own). */
  readonly server?: HttpServer | HttpsServer;
  /** An existing `ws` server: its connections are adopted as they come (its own options apply to upgrades). */
  readonly wss?: WebSocketServer;
  /** The only path that upgrades; others get 404. @default any path */
  readonly path?: string;
  /** Which browser origins may connect. @default 'same-origin' */
  readonly origin?: OriginPolicy;
  /**
   * Runs before the upgrade; refuse with `false` (401) or by throwing
   * `refuse(status)`. Its value is `socket.auth`.
   */
  readonly authenticate?: (request: IncomingMessage) => AuthResult<A>;
  /**
   * Largest inbound message in bytes; a bigger one closes that socket with
   * 1009. The fragments of one message and the read chunks ws may buffer are
   * bounded from it (`maxPayload / 64` fragments, at most 65,536;
   * `maxPayload / 1024` chunks, 1,024 to 16,384), so one connection's worst
   * case stays a few times `maxPayload`.
   * @default 1 MiB
   */
  readonly maxPayload?: number;
  /**
   * permessage-deflate (RFC 7692), for the clients that offer it (browsers
   * and most libraries do): `true` for `ws`'s defaults, or its options
   * (window bits, context takeover, threshold, concurrency, zlib tuning). Off
   * by default: a socket that compresses keeps about 250 KiB of zlib state
   * (11 KiB without), and small messages cost more CPU to compress than to
   * send. What waits in the compressor counts in the outbound bounds,
   * `writable$`, `bufferedAmount` and `memoryBudget`; a message that inflates
   * past `maxPayload` closes with 1009 as it inflates. See docs/compression.md.
   * @default false
   */
  readonly perMessageDeflate?: boolean | DeflateOptions;
  /** Open sockets at most; upgrades past it get HTTP 503. @default 10000 */
  readonly maxConnections?: number;
  /** Open sockets (and upgrades waiting on `authenticate`) per client address at most; past it, HTTP 503. IPv6 counts by /64. @default 256 */
  readonly maxConnectionsPerAddress?: number;
  /** Handshakes a client address may start per second (a burst of as many at once); past it, HTTP 429. IPv6 counts by /64. @default 100 */
  readonly handshakesPerAddress?: number;
  /**
   * The client's address, for the per-address limits, `socket.remoteAddress`
   * and the log. Behind a reverse proxy every connection comes from the
   * proxy: return the address it forwards (only a proxy you trust may set
   * that header, or clients choose their own address).
   * @default the TCP peer's address
   * @example
   * clientAddress: (req) => req.headers['x-real-ip']?.toString() ?? req.socket.remoteAddress
   */
  readonly clientAddress?: (request: IncomingMessage) => string | undefined;
  /**
   * What peers may make this server hold in all, in bytes: unfinished
   * messages, read chunks not parsed yet, frames held for a subscriber,
   * outbound queues. Past it, the sockets that hold the most are closed
   * (1008, logged) until the rest fit in 90 % of it; everyone else carries
   * on. `false` turns it off.
   * @default a sixteenth of the V8 heap limit (about 256 MiB with a 4 GiB heap)
   */
  readonly memoryBudget?: number | false;
  /** How long upgrade headers and `authenticate` may take, in ms (slowloris guard). @default 10000 */
  readonly handshakeTimeout?: number;
  /** How long `close()` waits for closing handshakes before terminating, in ms. @default 5000 */
  readonly closeTimeout?: number;
  /** Protocol heartbeat for every socket (one shared timer); `false` turns it off. @default { interval: 30000, timeout: 10000 } */
  readonly heartbeat?: HeartbeatOptions | false;
  /** Outbound flow control for every socket. */
  readonly outbound?: OutboundOptions;
  /** Inbound rate limit per socket (messages/s, bytes/s): close with 1008 or pause. @default none */
  readonly rateLimit?: RateLimitOptions;
  /**
   * The heartbeat of browser clients (which cannot send protocol pings): a
   * text frame equal to `ping` is answered with `pong`, and neither reaches
   * the app. `false` turns it off.
   * @default { ping: '\u0000rxjs-ws:ping', pong: '\u0000rxjs-ws:pong' }
   */
  readonly appPing?: { readonly ping: string; readonly pong: string } | false;
  /** Inbound frames held per socket while `messages$` has no subscriber. @default 1024 */
  readonly inboundHold?: number;
  /**
   * Keep the upgrade request on `socket.request` for the socket's lifetime.
   * It costs about 2 KB per socket (headers and all), so it is off:
   * `socket.url`, `socket.remoteAddress` and `authenticate` (which sees the
   * whole request and can return what you need as `socket.auth`) cover most uses.
   * @default false
   */
  readonly keepRequest?: boolean;
  /** Handler for plain HTTP requests to other paths, when rxjs-ws owns the server. @default 404 */
  readonly request?: (request: IncomingMessage, response: ServerResponse) => void;
  /**
   * Told of each refused upgrade and each socket that failed or that a
   * policy closed: a one-line text, and the same as a structured event
   * (`{ event, status?, code?, reason, address, path? … }`) for a JSON
   * logger. A `(line) => void` takes the text alone. Off by default.
   * @example
   * log: (line, event) => pinoLogger.warn(event, line)
   */
  readonly log?: (line: string, event: LogEvent) => void;
  /**
   * Resumable sessions for clients that ask (`connect(url, { resume: true })`,
   * negotiated as the subprotocol `rxjs-ws.resume.1`): nothing sent either way
   * is lost when a connection drops and the client comes back within `ttl`.
   * Their sessions come on `sessions$`; other clients' connections on
   * `connections$` as before. `true` takes the defaults. @default false
   */
  readonly resume?: ResumeOptions | boolean;
  /** Scheduler for timeouts (tests pass a `TestScheduler`). @default asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** Options of `RxServer.close()`. */
export interface ServerCloseOptions {
  /** Close code sent to every client. @default 1001 (GOING_AWAY) */
  readonly code?: number;
  /** Close reason sent to every client. @default 'Server shutting down' */
  readonly reason?: string;
  /** Deadline for closing handshakes in ms; the rest are terminated. @default the server's `closeTimeout` */
  readonly timeout?: number;
  /**
   * Resumable sessions are handed off rather than ended: their connections
   * close with `code` but their clients are not told that the session is
   * over, so they come back with it, to another process or to this one
   * restarted, where a session of the same lineage begins (and the hub, with
   * history, takes their topics over from where they were). Close the hub
   * first, so that it stores where each session is. @default false: sessions
   * end, and their clients begin new ones
   */
  readonly handOff?: boolean;
}

/**
 * Starts (or attaches) a WebSocket server whose connections are `RxSocket`s.
 *
 * @example
 * const server = serve({ port: 8080, path: '/ws' });
 * server.connections$.subscribe((socket) => socket.messages$.subscribe(socket));
 */
export function serve<A = undefined>(options: ServeOptions<A>): RxServer<A> {
  return new RxServer(options);
}

/** A WebSocket server as a stream of `RxSocket`s. Create it with `serve()`. */
export class RxServer<A = undefined> {
  /** The HTTP(S) server that carries the upgrades. */
  readonly http: HttpServer | HttpsServer | undefined;
  /** Resolves with the bound address once listening; rejects if listening failed (`null` for an adopted `noServer` wss). */
  readonly listening: Promise<AddressInfo>;

  readonly #sockets = new Set<RxSocket<A>>();
  readonly #limits: AddressLimits;
  readonly #budget: MemoryBudget | null;
  readonly #sessions: SessionRegistry<A> | null;
  readonly #wss: WebSocketServer;
  readonly #owned: boolean;
  readonly #options: ServeOptions<A>;
  readonly #allowOrigin: (request: IncomingMessage) => boolean;
  readonly #clientAddress: (request: IncomingMessage) => string;
  readonly #socketOptions: RxSocketOptions<A>;
  readonly #maxConnections: number;
  readonly #keepRequest: boolean;
  readonly #handshakeTimeout: number;
  readonly #closeTimeout: number;
  readonly #scheduler: SchedulerLike;
  readonly #log: (line: string, event: LogEvent) => void;
  readonly #counters = new ServerCounters();
  /** Emits and completes when the server has closed (ending every `metrics$()`); made when first needed. */
  #ended: Subject<void> | null = null;
  readonly #onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(request, socket, head);
  readonly #onConnection = (ws: WebSocket, request: IncomingMessage) => this.#accept(ws, request, undefined as A);
  // Typed without A, which would make RxServer<A> invariant in A for no gain: connections$ gives A back.
  readonly #accepted = new Held<RxSocket<unknown>>();
  #closed: Promise<void> | null = null;
  #onEmpty: (() => void) | null = null;
  #failure: Error | null = null;
  /** Upgrades past the caps that wait (on authenticate, or their turn): they hold a place. */
  #pending = 0;
  /** How to answer each of them (503) when the server closes first. */
  readonly #pendingUpgrades = new Set<() => void>();
  /** Upgrades waiting for a later turn of the event loop (see #paced). */
  readonly #paceQueue: { run(): void; abandon(): void }[] = [];
  #upgradesThisTurn = 0;

  constructor(options: ServeOptions<A>) {
    const o = expectObject('options', options) as ServeOptions<A>;
    const given = [o.port !== undefined, o.server !== undefined, o.wss !== undefined].filter(Boolean).length;
    if (given !== 1) {
      throw new InvalidArgumentError('Expected exactly one of the `port`, `server` or `wss` options');
    }
    if (o.path !== undefined && (typeof o.path !== 'string' || !o.path.startsWith('/'))) {
      throw new InvalidArgumentError(`Expected \`path\` to be a string starting with "/", got ${describe(o.path)}`);
    }
    if (o.authenticate !== undefined) expectFunction('authenticate', o.authenticate);
    if (o.request !== undefined) {
      expectFunction('request', o.request);
      // Without a path every request is for the WebSocket (400): the handler would never be called.
      if (o.path === undefined) throw new InvalidArgumentError('The `request` option needs `path`: without it every path is the WebSocket endpoint');
    }
    if (o.log !== undefined) expectFunction('log', o.log);
    const log = o.log === undefined ? noLog : guarded(o.log);
    this.#keepRequest = o.keepRequest === undefined ? false : expectBoolean('keepRequest', o.keepRequest);
    const maxPayload = o.maxPayload === undefined ? Defaults.maxPayload : expectInteger('maxPayload', o.maxPayload, 1);
    const perMessageDeflate = resolveDeflate(o.perMessageDeflate, 'server');
    this.#maxConnections = o.maxConnections === undefined ? Defaults.maxConnections : expectInteger('maxConnections', o.maxConnections, 1);
    const perAddress =
      o.maxConnectionsPerAddress === undefined ? Defaults.maxConnectionsPerAddress : expectInteger('maxConnectionsPerAddress', o.maxConnectionsPerAddress, 1);
    const handshakes =
      o.handshakesPerAddress === undefined || o.handshakesPerAddress === Infinity
        ? (o.handshakesPerAddress ?? Defaults.handshakesPerAddress)
        : expectInteger('handshakesPerAddress', o.handshakesPerAddress, 1);
    this.#scheduler = o.scheduler === undefined ? asyncScheduler : expectScheduler('scheduler', o.scheduler);
    this.#limits = new AddressLimits(perAddress, handshakes, this.#scheduler);
    const budget = o.memoryBudget === undefined ? defaultMemoryBudget() : o.memoryBudget === false ? false : expectInteger('memoryBudget', o.memoryBudget, 1);
    this.#budget = budget === false ? null : new MemoryBudget(budget, () => {});
    this.#handshakeTimeout =
      o.handshakeTimeout === undefined ? Defaults.handshakeTimeout : expectInteger('handshakeTimeout', o.handshakeTimeout, 1, MAX_TIMER_DELAY);
    this.#closeTimeout = o.closeTimeout === undefined ? Defaults.closeTimeout : expectInteger('closeTimeout', o.closeTimeout, 0, MAX_TIMER_DELAY);
    this.#socketOptions = {
      heartbeat: resolveHeartbeat(o.heartbeat) ?? false,
      host: {
        closed: (socket) => this.#release(socket as RxSocket<A>),
        rateLimited: () => void this.#counters.rateLimited++,
        refusedAfterClose: () => void this.#counters.refusedFrames++,
      },
      rateLimit: resolveRate(o.rateLimit, o.scheduler) ?? undefined,
      log: o.log === undefined ? undefined : log,
      outbound: resolveOutbound(o.outbound),
      inboundHold: o.inboundHold === undefined ? undefined : expectInteger('inboundHold', o.inboundHold, 1),
      budget: this.#budget ?? undefined,
      limitFragments: true,
      shareReads: true,
      appPing: resolveAppPing(o.appPing),
    };
    const resume = resolveResume(o.resume);
    const budgetRef = this.#budget;
    this.#sessions =
      resume === null
        ? null
        : new SessionRegistry<A>({
            ...resume,
            outbound: resolveOutbound(o.outbound),
            inboundHold: this.#socketOptions.inboundHold ?? DEFAULT_INBOUND_HOLD,
            helloTimeout: this.#handshakeTimeout,
            scheduler: this.#scheduler,
            budget: budgetRef,
          });
    this.#allowOrigin = originCheck(o.origin);
    const clientAddress = o.clientAddress;
    if (clientAddress !== undefined) expectFunction('clientAddress', clientAddress);
    this.#clientAddress =
      clientAddress === undefined
        ? (request) => request.socket.remoteAddress ?? 'unknown'
        : (request) => {
            try {
              return clientAddress(request) || (request.socket.remoteAddress ?? 'unknown');
            } catch {
              return request.socket.remoteAddress ?? 'unknown';
            }
          };
    this.#log = log;
    this.#options = o;

    if (o.wss !== undefined) {
      // The adopted server does its own upgrades: options that act on upgrades would be silently ignored.
      const ignored = UPGRADE_OPTIONS.filter((name) => o[name] !== undefined);
      if (ignored.length > 0) {
        throw new InvalidArgumentError(
          `The ${ignored.map((n) => `\`${n}\``).join(', ')} option(s) act on upgrades, which an adopted \`wss\` does itself: set them on the WebSocketServer (e.g. verifyClient, maxPayload) or use \`server\`/\`port\``,
        );
      }
      this.#wss = o.wss;
      this.#owned = false;
      this.http = undefined;
      o.wss.on('connection', this.#onConnection);
      const address = wssAddress(o.wss);
      const wss = o.wss as WebSocketServer & { options?: { noServer?: boolean } };
      // A wss with a port of its own may still be binding; a noServer one never has an address (null).
      this.listening =
        address !== null || wss.options?.noServer === true
          ? Promise.resolve(address as AddressInfo)
          : new Promise<AddressInfo>((resolve, reject) => {
              wss.once('listening', () => resolve(wssAddress(wss) as AddressInfo));
              wss.once('error', reject);
            });
      this.listening.catch((err: Error) => this.#fail(err));
      return;
    }
    // maxFragments and closeTimeout are ws >= 8.23 options that @types/ws does not list yet.
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload,
      ...readLimits(maxPayload),
      perMessageDeflate,
      closeTimeout: this.#closeTimeout,
      // ws answers pings (autoPong); RxSocket closes with 1008 past its ping budget or pong backlog, before ws's bare terminate.
      maxPendingAutoPongs: 2 * Defaults.pongBacklog,
      handleProtocols: (offered: Set<string>) => selectProtocol(offered, this.#sessions !== null),
    } as ConstructorParameters<typeof WebSocketServer>[0]);
    if (o.server !== undefined) {
      this.#owned = false;
      this.http = o.server;
      this.listening = o.server.listening ? Promise.resolve(o.server.address() as AddressInfo) : once(o.server);
    } else {
      expectInteger('port', o.port, 0, 65535);
      this.#owned = true;
      const http = createServer({
        headersTimeout: this.#handshakeTimeout,
        requestTimeout: this.#handshakeTimeout,
        connectionsCheckingInterval: Math.min(1000, this.#handshakeTimeout),
      });
      http.on('request', (req, res) => this.#request(req, res));
      http.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.#clientError(err, socket as Socket));
      this.http = http;
      this.listening = once(http);
      http.listen(o.port, o.host ?? '127.0.0.1');
    }
    this.http.on('upgrade', this.#onUpgrade);
    this.listening.catch((err: Error) => this.#fail(err));
  }

  /**
   * Every accepted connection, as it opens. Hot; sockets accepted while it has
   * no subscriber are held for the first one. Completes after `close()`.
   */
  get connections$(): Observable<RxSocket<A>> {
    return this.#accepted.stream as Observable<RxSocket<A>>;
  }

  /**
   * Resumable sessions (`resume` option), as they begin: one per client
   * that asked for one, spanning its connections (a resumed connection does
   * not emit again). Hot; held for the first subscriber. Completes after
   * `close()`. Without `resume`, it never emits.
   *
   * @example
   * // Serve clients with and without resume alike.
   * merge(server.connections$, server.sessions$).subscribe((socket) => socket.messages$.subscribe(socket));
   */
  get sessions$(): Observable<RxSession<A>> {
    return this.#sessions?.sessions$ ?? this.#noSessions;
  }

  /** Without `resume`: completes with the server. */
  readonly #noSessions = new Observable<never>((subscriber) => (this.#ended ??= new Subject<void>()).subscribe({ complete: () => subscriber.complete() }));

  /** The open sockets. */
  get sockets(): ReadonlySet<RxSocket<A>> {
    return this.#sockets;
  }

  /**
   * The server's counters now: open sockets, upgrades accepted and refused
   * by reason, frames and bytes in and out, closes by code, what waits in
   * outbound queues, the memory budget, heartbeat timeouts and rate-limit
   * hits. Counting costs nothing per message: each socket's `stats` are
   * added when it closes, and this walks the open ones (O(sockets)).
   */
  metrics(): ServerMetrics {
    return this.#snapshot(this.#scheduler.now());
  }

  /**
   * `metrics()` on subscription, then every `interval` ms, until the server
   * has closed (with a last snapshot then). Cold: each subscriber has its
   * own timer. Time comes from `scheduler`, so a marble test drives it.
   *
   * @param interval Ms between snapshots. @default 5000
   * @param scheduler Time source. @default the server's `scheduler` option, else asyncScheduler
   * @example
   * server.metrics$(1000).subscribe((m) => console.log(`${m.open} open, ${m.messages.received} in`));
   */
  metrics$(interval = 5000, scheduler: SchedulerLike = this.#scheduler): Observable<ServerMetrics> {
    return snapshots((now) => this.#snapshot(now), interval, scheduler, (this.#ended ??= new Subject<void>()));
  }

  #snapshot(at: number): ServerMetrics {
    return snapshot(at, this.#counters, this.#sockets, this.#budget, this.#sessions?.counts() ?? null);
  }

  /** The bound address, or `null` before listening. */
  address(): AddressInfo | null {
    const address = this.http !== undefined ? this.http.address() : wssAddress(this.#wss);
    return address !== null && typeof address === 'object' ? address : null;
  }

  /**
   * Closes gracefully: no new connections; every client gets `code` (1001)
   * after its queued frames; closing handshakes may take `timeout` ms, then
   * the rest are terminated. Resolves when every socket and the HTTP server
   * (when rxjs-ws created it) are released. Idempotent.
   */
  close(options: ServerCloseOptions = {}): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    // Checked now, so a bad argument throws here instead of half-closing the server.
    const o = expectObject('options', options) as ServerCloseOptions;
    const code = o.code ?? CloseCode.GOING_AWAY;
    const reason = o.reason ?? 'Server shutting down';
    validateClose(code, reason);
    const deadline = o.timeout === undefined ? this.#closeTimeout : expectInteger('timeout', o.timeout, 0, MAX_TIMER_DELAY);
    const handOff = o.handOff === undefined ? false : expectBoolean('handOff', o.handOff);
    return (this.#closed = this.#shutdown(code, reason, deadline, handOff));
  }

  async #shutdown(code: number, reason: string, deadline: number, handOff: boolean): Promise<void> {
    const http = this.http;
    // close() right after serve(): wait for listen() to finish, or the server would start listening after we are done.
    if (this.#owned && http !== undefined && !http.listening && this.#failure === null) await this.listening.catch(() => undefined);
    const httpClosed =
      this.#owned && http !== undefined && http.listening ? new Promise<void>((resolve) => http.close(() => resolve())) : Promise.resolve();
    for (const abandon of [...this.#pendingUpgrades]) abandon();
    this.#sessions?.close(code, reason, handOff);
    for (const socket of this.#sockets) socket.close(code, reason);
    await this.#drain(deadline);
    http?.removeListener('upgrade', this.#onUpgrade);
    this.#wss.removeListener('connection', this.#onConnection);
    if (this.#owned) {
      this.#wss.close();
      // Idle keep-alive HTTP connections would hold http.close() open: end them now.
      if (http !== undefined && 'closeAllConnections' in http) http.closeAllConnections();
      await httpClosed;
    }
    this.#accepted.end();
    const ended = (this.#ended ??= new Subject<void>());
    ended.next();
    ended.complete();
  }

  /** Waits until every socket has closed, terminating the rest at the deadline. */
  #drain(deadline: number): Promise<void> {
    if (this.#sockets.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = this.#scheduler.schedule(() => {
        for (const socket of this.#sockets) socket.terminate();
      }, deadline);
      this.#onEmpty = () => {
        this.#onEmpty = null;
        timer.unsubscribe();
        resolve();
      };
    });
  }

  /** Node's answer to a request it could not parse or that took too long, plus one log line. */
  #clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) return void socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const address = socket.remoteAddress ?? 'unknown';
    const detail = err.code ?? err.message;
    this.#counters.refused['bad-handshake']++;
    this.#log(`request refused ${status} from ${address}: ${detail}`, { event: 'request-refused', status, reason: 'bad-handshake', detail, address });
    if (socket.bytesWritten === 0) socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
    socket.destroy();
  }

  #request(request: IncomingMessage, response: ServerResponse): void {
    const path = pathOf(request.url);
    if (path !== null && (this.#options.path === undefined || path === this.#options.path)) {
      const body = 'Bad Request: this is a WebSocket endpoint; connect with a WebSocket client (Upgrade: websocket)\n';
      response.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      response.end(body);
      return;
    }
    if (this.#options.request !== undefined) return this.#options.request(request, response);
    response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    response.end('Not Found\n');
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', ignore);
    const tcp = request.socket;
    if (tcp.remoteAddress === undefined && tcp.localPort !== undefined) {
      // A TCP peer that reset before its request was handled (the system no longer tells its address): nobody to answer.
      socket.destroy();
      return;
    }
    // Read now, while the connection surely has one: a peer that resets right after the handshake takes it along.
    const address = this.#clientAddress(request);
    const path = pathOf(request.url);
    const refuseWith: Refuse = (status, message, reason, why, headers) => {
      this.#counters.refused[reason]++;
      // What the peer sent (path, Origin, an error's words) is logged bounded.
      const logged = path === null ? null : clip(path);
      const detail = clip(why);
      this.#log(`upgrade refused ${status} from ${address} ${logged ?? ''}: ${detail}`, { event: 'upgrade-refused', status, reason, detail, address, path: logged });
      refuseUpgrade(socket, status, message, headers);
    };
    if (this.#options.path !== undefined && path !== this.#options.path) {
      // Leave other paths to other upgrade listeners on a shared server.
      if (this.http !== undefined && this.http.listenerCount('upgrade') > 1) return void socket.removeListener('error', ignore);
      return refuseWith(404, 'Not Found', 'not-found', 'unknown path');
    }
    // The checks ws would make in handleUpgrade, made here so they are logged and come before authenticate.
    if (request.method !== 'GET') return refuseWith(405, 'Method Not Allowed', 'bad-handshake', `method ${request.method}`);
    if (request.headers.upgrade?.toLowerCase() !== 'websocket') return refuseWith(400, 'Bad Request', 'bad-handshake', 'invalid Upgrade header');
    const wsKey = request.headers['sec-websocket-key'];
    if (wsKey === undefined || !/^[+/0-9A-Za-z]{22}==$/.test(wsKey)) return refuseWith(400, 'Bad Request', 'bad-handshake', 'missing or invalid Sec-WebSocket-Key');
    const version = request.headers['sec-websocket-version'];
    if (version !== '13' && version !== '8') {
      return refuseWith(400, 'Bad Request', 'bad-handshake', 'missing or unsupported Sec-WebSocket-Version', { 'Sec-WebSocket-Version': '13, 8' });
    }
    if (this.#closed !== null) return refuseWith(503, 'Service Unavailable', 'closing', 'server closing');
    let allowed: boolean;
    try {
      allowed = this.#allowOrigin(request);
    } catch (err) {
      return refuseWith(403, 'Forbidden', 'origin', `origin check failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!allowed) return refuseWith(403, 'Forbidden', 'origin', `origin ${clip(JSON.stringify(request.headers.origin) ?? 'undefined', 100)} not allowed`);
    if (this.#sockets.size + this.#pending >= this.#maxConnections) return refuseWith(503, 'Service Unavailable', 'max-connections', 'connection limit');
    const key = addressKey(address);
    const over = this.#limits.admit(key);
    if (over === 'connections') return refuseWith(503, 'Service Unavailable', 'per-address', 'per-address connection limit');
    if (over === 'rate') return refuseWith(429, 'Too Many Requests', 'handshake-rate', 'per-address handshake rate', { 'Retry-After': '1' });
    const authenticate = this.#options.authenticate;
    if (authenticate === undefined) return this.#paced(key, refuseWith, () => this.#complete(request, socket, head, undefined as A, address));
    let result: AuthResult<A>;
    try {
      result = authenticate(request);
    } catch (err) {
      return this.#refuseAuth(err, refuseWith);
    }
    if (!isObservable(result) && !isPromiseLike(result)) {
      if (result === false) return refuseWith(401, 'Unauthorized', 'auth', 'authenticate returned false');
      return this.#paced(key, refuseWith, () => this.#complete(request, socket, head, result, address));
    }
    const release = this.#reserve(key);
    let onClose: (() => void) | null = null;
    // Once authenticate has answered, nothing may keep this upgrade's request alive for the socket's lifetime.
    const settle = () => {
      release();
      this.#pendingUpgrades.delete(abandon);
      if (onClose !== null) socket.removeListener('close', onClose);
    };
    // server.close() does not wait for an answer that may never come.
    const abandon = () => {
      settle();
      subscription.unsubscribe();
      refuseWith(503, 'Service Unavailable', 'closing', 'server closing');
    };
    const subscription = from(result)
      .pipe(take(1), defaultIfEmpty(false as const), timeout({ first: this.#handshakeTimeout, scheduler: this.#scheduler }))
      .subscribe({
        next: (value) => {
          settle(); // #complete accepts synchronously: the place goes straight to the socket
          if (value === false) return refuseWith(401, 'Unauthorized', 'auth', 'authenticate gave no user');
          if (socket.destroyed) return;
          if (this.#closed !== null) return refuseWith(503, 'Service Unavailable', 'closing', 'server closing');
          this.#paced(key, refuseWith, () => this.#complete(request, socket, head, value, address));
        },
        error: (err: unknown) => {
          settle();
          this.#refuseAuth(err, refuseWith);
        },
      });
    if (subscription.closed) return;
    socket.once('close', (onClose = cancelOnClose(release, subscription)));
    this.#pendingUpgrades.add(abandon);
  }

  /**
   * Completes an upgrade now, or, past `Defaults.upgradesPerTurn` in this turn
   * of the event loop, in a later one (holding its place under the caps):
   * a burst of handshakes is taken in slices, with everyone else's reads
   * between them, rather than in one long turn.
   */
  #paced(key: string, refuseWith: Refuse, complete: () => void): void {
    if (this.#upgradesThisTurn < Defaults.upgradesPerTurn && this.#paceQueue.length === 0) {
      this.#countUpgrade();
      return complete();
    }
    const release = this.#reserve(key);
    const entry = {
      run: () => {
        release();
        this.#pendingUpgrades.delete(entry.abandon);
        complete();
      },
      abandon: () => {
        release();
        this.#pendingUpgrades.delete(entry.abandon);
        this.#paceQueue.splice(this.#paceQueue.indexOf(entry), 1);
        refuseWith(503, 'Service Unavailable', 'closing', 'server closing');
      },
    };
    this.#pendingUpgrades.add(entry.abandon);
    this.#paceQueue.push(entry);
    this.#countUpgrade(); // schedules the next turn, if this turn has not yet
  }

  #countUpgrade(): void {
    if (this.#upgradesThisTurn++ === 0) setImmediate(this.#nextTurn);
  }

  /** A new turn: the next slice of waiting upgrades. */
  readonly #nextTurn = (): void => {
    this.#upgradesThisTurn = 0;
    const slice = this.#paceQueue.splice(0, Defaults.upgradesPerTurn);
    if (slice.length === 0) return;
    this.#upgradesThisTurn = slice.length;
    setImmediate(this.#nextTurn);
    for (const entry of slice) entry.run();
  };

  /** Holds a place under the caps while authenticate decides; returns its (idempotent) release. */
  #reserve(key: string): () => void {
    this.#pending++;
    this.#limits.tally(key, 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#pending--;
      this.#limits.tally(key, -1);
    };
  }


  #refuseAuth(err: unknown, refuseWith: Refuse): void {
    if (err instanceof UpgradeRefusedError) return refuseWith(err.status, err.message, 'auth', 'authenticate refused');
    if (err instanceof TimeoutError) return refuseWith(503, 'Service Unavailable', 'auth', 'authenticate timed out');
    refuseWith(500, 'Internal Server Error', 'auth', `authenticate failed: ${err instanceof Error ? err.message : String(err)}`);
  }

  #complete(request: IncomingMessage, socket: Duplex, head: Buffer, auth: A, address: string): void {
    if (socket.destroyed) return;
    socket.removeListener('error', ignore);
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, request, auth, address));
  }

  #accept(ws: WebSocket, request: IncomingMessage, auth: A, address?: string): void {
    // A literal of one shape for every socket: cheaper to build and to read than a spread or a prototype chain.
    const shared = this.#socketOptions;
    const resume = this.#sessions !== null && ws.protocol === RESUME_PROTOCOL;
    const options: RxSocketOptions<A> = {
      heartbeat: shared.heartbeat,
      outbound: shared.outbound,
      inboundHold: shared.inboundHold,
      rateLimit: shared.rateLimit,
      log: shared.log,
      host: shared.host,
      budget: shared.budget,
      limitFragments: shared.limitFragments,
      shareReads: shared.shareReads,
      appPing: shared.appPing,
      url: request.url,
      auth,
      request: this.#keepRequest ? request : undefined,
      remoteAddress: address ?? this.#clientAddress(request),
      // A session's frames that its connection never sent are not lost: the session sends them again on the next one.
      onUnsent: resume ? ignore : undefined,
    };
    const socket = new RxSocket<A>(ws, options);
    this.#counters.accepted++;
    this.#sockets.add(socket);
    this.#limits.tally(addressKey(options.remoteAddress), 1);
    if (this.#closed !== null) socket.close(CloseCode.GOING_AWAY, 'Server shutting down');
    if (resume) this.#sessions!.accept(socket);
    else this.#accepted.push(socket as RxSocket<unknown>);
  }

  /** Bookkeeping when a socket has closed: one function for all sockets instead of a subscription each. */
  #release(socket: RxSocket<A>): void {
    if (!this.#sockets.delete(socket)) return;
    this.#counters.closed(socket as RxSocket<unknown>);
    this.#accepted.forget(socket as RxSocket<unknown>);
    this.#limits.tally(addressKey(socket.remoteAddress), -1);
    if (this.#sockets.size === 0) this.#onEmpty?.();
  }

  #fail(err: Error): void {
    this.#failure = err;
    this.#accepted.end(err);
  }
}

/**
 * The subprotocol to accept: resume when the server has it on and the client
 * offers it, else the client's first other choice (as `ws` does by default),
 * never resume on a server without it.
 */
function selectProtocol(offered: Set<string>, resume: boolean): string | false {
  if (resume && offered.has(RESUME_PROTOCOL)) return RESUME_PROTOCOL;
  for (const protocol of offered) if (!protocol.startsWith('rxjs-ws.resume.')) return protocol;
  return false;
}

/** Options that only mean something when rxjs-ws handles the upgrade (not with an adopted `wss`). */
const UPGRADE_OPTIONS = [
  'path',
  'origin',
  'authenticate',
  'maxPayload',
  'perMessageDeflate',
  'maxConnections',
  'maxConnectionsPerAddress',
  'handshakesPerAddress',
  'clientAddress',
  'handshakeTimeout',
  'request',
] as const;

/** The app-level ping exchange, validated. */
function resolveAppPing(option: unknown): { readonly ping: string; readonly pong: string } | false {
  if (option === undefined) return DEFAULT_APP_PING;
  if (option === false) return false;
  const o = expectObject('appPing', option);
  for (const name of ['ping', 'pong'] as const) {
    if (typeof o[name] !== 'string' || o[name] === '') throw new InvalidArgumentError(`Expected \`appPing.${name}\` to be a non-empty string, got ${describe(o[name])}`);
  }
  return { ping: o.ping as string, pong: o.pong as string };
}

const DEFAULT_APP_PING = Object.freeze({ ping: APP_PING, pong: APP_PONG });

/** A sixteenth of the V8 heap limit. */
function defaultMemoryBudget(): number {
  return Math.floor(getHeapStatistics().heap_size_limit / 16);
}

/** A ws server's address, or null (a `noServer` ws server has none: its address() throws). */
function wssAddress(wss: WebSocketServer): AddressInfo | string | null {
  try {
    return wss.address();
  } catch {
    return null;
  }
}

function ignore(): void {}

/** Answers an upgrade with an HTTP error, counts it under `reason` and logs `why`. */
type Refuse = (status: number, message: string, reason: RefusalReason, why: string, headers?: Record<string, string>) => void;

/** Gives up a pending authenticate when the client leaves; made here so it holds nothing else of the upgrade. */
function cancelOnClose(release: () => void, subscription: Subscription): () => void {
  return () => {
    release();
    subscription.unsubscribe();
  };
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';
}

function once(server: HttpServer | HttpsServer): Promise<AddressInfo> {
  return new Promise<AddressInfo>((resolve, reject) => {
    const onError = (err: Error) => {
      server.removeListener('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.removeListener('error', onError);
      resolve(server.address() as AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
  });
}

function noLog(): void {}

/**
 * The user's `log`, made safe to call from inside the socket's state changes:
 * a throw is reported the way RxJS reports a subscriber's error (its
 * `config.onUnhandledError`, else thrown on a later turn), never into
 * `next()` or a close half done.
 */
function guarded(log: (line: string, event: LogEvent) => void): (line: string, event: LogEvent) => void {
  return (line, event) => {
    try {
      log(line, event);
    } catch (err) {
      const report = config.onUnhandledError;
      if (report !== null) report(err);
      else setTimeout(() => {
        throw err;
      });
    }
  };
}
