import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { Defaults } from '../constants';

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
 *   ws._receiver._maxFragments, haveLength(), _totalPayloadLength, _bufferedBytes, _buffers, _fragments
 *                       the fragment limit, and what the receiver holds
 *   ws._receiver._writableState.needDrain
 *                       the receiver asked for the TCP socket to be paused
 *   the TCP socket's 'data' listener socketOnData
 *                       what feeds the receiver: shareReads() stands in its place
 *   the TCP socket's 'error' listener socketOnError
 *                       watchTransport() stands in its place
 *   the TCP socket's Symbol('websocket')
 *                       the ws of a TCP socket, for shareReads()
 *   ws._sender._bufferedBytes
 *                       bytes handed to ws that wait in its compressor or behind it
 *   ws._receiver._messageLength
 *                       bytes the fragments of an unfinished compressed message inflated to
 *   ws._extensions['permessage-deflate']: params, _threshold, _options.zlibDeflateOptions, _maxPayload, decompress()
 *                       the negotiated parameters (a prepared frame compressed once), and
 *                       the end of each inflation (the memory budget is told at once), and
 *                       no inflation while the socket is paused (the hold's bound), and a fragment's
 *                       inflation stopped where the message passes maxPayload
 */

interface WsPrivate {
  _pendingAutoPongs?: number;
  _receiver?: { on(event: 'conclude', listener: () => void): unknown; removeListener(event: 'conclude', listener: () => void): unknown } | null;
  _socket?: Socket | null;
  _isServer?: boolean;
  _sender?: { _state?: number; _queue?: unknown[]; _bufferedBytes?: number } | null;
  _extensions?: Record<string, unknown>;
}

/** What rxjs-ws reads of ws's PerMessageDeflate. */
interface DeflatePrivate {
  params?: Record<string, unknown> | null;
  _threshold?: number;
  _isServer?: boolean;
  _maxPayload?: number;
  _options?: { zlibDeflateOptions?: object };
  decompress?: (data: Buffer, fin: boolean, callback: (err: Error | null, result?: Buffer) => void) => void;
}

function deflateOf(ws: WebSocket): DeflatePrivate | undefined {
  return (ws as unknown as WsPrivate)._extensions?.['permessage-deflate'] as DeflatePrivate | undefined;
}

/** How a server socket with permessage-deflate wants a prepared frame compressed (negotiated without context takeover). */
export interface PreparedDeflate {
  /** The window the server compresses with (server_max_window_bits). */
  readonly windowBits: number;
  /** Messages shorter than this go uncompressed, as ws would send them. */
  readonly threshold: number;
  /** The server's zlib options: one object for all its sockets, so it keys a prepared frame's cache. */
  readonly zlib: object | undefined;
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
 * How a frame framed by `prepare()` (unmasked) may be written to this
 * socket's TCP socket as it is now: `'plain'` on a server socket without
 * extensions; the deflate parameters on a server socket that negotiated
 * permessage-deflate without server context takeover (each message stands
 * alone, so one compressed copy fits every such socket); `null` otherwise (a
 * client masks; a compressor that keeps its context must see every message;
 * ws has frames of its own waiting, which the frame must not overtake).
 */
export function preparedPath(ws: WebSocket): 'plain' | PreparedDeflate | null {
  if (!isServerSide(ws) || !senderIdle(ws)) return null;
  const extensions = ws.extensions;
  if (extensions === '') return 'plain';
  if (extensions !== 'permessage-deflate') return null;
  const deflate = deflateOf(ws);
  const params = deflate?.params;
  if (deflate == null || params == null || params.server_no_context_takeover !== true) return null;
  const bits = params.server_max_window_bits;
  return {
    windowBits: typeof bits === 'number' ? bits : 15,
    threshold: deflate._threshold ?? 1024,
    zlib: deflate._options?.zlibDeflateOptions,
  };
}

/** Bytes handed to ws that wait in its compressor, or queued behind a compression (part of ws's `bufferedAmount`). */
export function senderBytes(ws: WebSocket): number {
  return (ws as unknown as WsPrivate)._sender?._bufferedBytes ?? 0;
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

const kTransport = Symbol('rxjs-ws.transport');
type Watched = Socket & { [kTransport]?: TransportWatcher | undefined };

/** ws's own 'error' listener on the TCP socket: one function for every socket. */
let wsOnError: ((this: Socket, error: Error) => void) | undefined;

/**
 * Tells `watcher` of the TCP socket's first error, and of each read with
 * `reads`. No listener of its own where it can help it (every array of
 * listeners costs each idle socket): the error is heard by standing in ws's
 * own 'error' listener (with it as its `listener`, as `once()` does, so ws's
 * `removeListener('error', socketOnError)` removes it), and reads by
 * `shareReads()` when it reads for the socket.
 */
export function watchTransport(ws: WebSocket, watcher: TransportWatcher, reads: boolean): void {
  const raw = rawSocket(ws) as Watched | null;
  if (raw === null || typeof raw.rawListeners !== 'function') return;
  raw[kTransport] = watcher;
  const original = wsListener(raw, 'error', 'socketOnError', wsOnError);
  if (original !== undefined && wsOnError === undefined) {
    wsOnError = original;
    (onTransportError as { listener?: unknown }).listener = original;
  }
  if (original !== undefined && original === wsOnError) {
    raw.removeListener('error', original);
    raw.on('error', onTransportError);
  } else {
    raw.on('error', onTransportErrorAlone);
  }
  // After ws's own 'data' listener: the receiver has taken the chunk in by then.
  if (reads && raw.listenerCount('data', sharedRead) === 0) raw.on('data', onTransportRead);
  // Every socket: inflation waits while reading is paused (the bounds of what is held), and tells the budget when read.
  watchInflation(ws, raw);
}

const kRaw = Symbol('rxjs-ws.raw');
const kWs = Symbol('rxjs-ws.ws');
const kDeferred = Symbol('rxjs-ws.deferredInflation');
const kMaxPayload = Symbol('rxjs-ws.maxPayload');
type Inflation = (err: Error | null, result?: Buffer) => void;
type WatchedDeflate = DeflatePrivate & {
  [kRaw]?: Watched | undefined;
  [kWs]?: WebSocket | undefined;
  [kDeferred]?: (() => void) | undefined;
  /** ws's `maxPayload` for a whole message (ws checks each fragment's inflation against it alone). */
  [kMaxPayload]?: number;
};
/** ws's own `PerMessageDeflate.prototype.decompress`. */
let decompress: NonNullable<DeflatePrivate['decompress']> | undefined;

/**
 * Inflates a socket's compressed fragments only while it reads, and tells
 * the watcher of `raw` each time an inflation ends (the receiver has kept
 * what it inflated by then): a compressed fragment costs what it inflates
 * to, known only then, after the read that brought it. While the socket is
 * paused (`ws.pause()`: a full hold, a rate limit holding, a backlog), the
 * next inflation waits for `resumeInflation()` (or for the connection's
 * end, when ws must parse what it read): ws's receiver would otherwise
 * inflate every message of what it has read, each up to `maxPayload`, past
 * the bound that paused it. An own `decompress` that calls ws's, one
 * function for every socket.
 */
function watchInflation(ws: WebSocket, raw: Watched): void {
  const deflate = deflateOf(ws) as WatchedDeflate | undefined;
  if (deflate == null) return;
  const own = (Object.getPrototypeOf(deflate) as DeflatePrivate).decompress;
  if (typeof own !== 'function') return;
  if (decompress === undefined) decompress = own;
  else if (decompress !== own) return; // another copy of ws: left as it is
  deflate[kRaw] = raw;
  deflate[kWs] = ws;
  deflate[kMaxPayload] = deflate._maxPayload ?? 0;
  deflate.decompress = inflateWatched;
}

function inflateWatched(this: WatchedDeflate, data: Buffer, fin: boolean, callback: Inflation): void {
  const ws = this[kWs];
  const raw = ws === undefined ? null : rawSocket(ws);
  // The receiver waits for each inflation before it parses on: at most one waits here.
  if (ws !== undefined && ws.isPaused && raw !== null && !raw.destroyed && this[kDeferred] === undefined) {
    const run = (): void => {
      if (this[kDeferred] !== run) return;
      this[kDeferred] = undefined;
      raw.removeListener('close', run);
      inflate(this, data, fin, callback);
    };
    this[kDeferred] = run;
    // At the end ws parses what it read before it says 'close': the inflation goes on then.
    raw.on('close', run);
    return;
  }
  inflate(this, data, fin, callback);
}

function inflate(deflate: WatchedDeflate, data: Buffer, fin: boolean, callback: Inflation): void {
  // ws stops a fragment's inflation past maxPayload, counted from that fragment: each fragment of a message could
  // inflate to maxPayload before ws sees the message is over it. Counted from the message's start instead.
  const max = deflate[kMaxPayload] ?? 0;
  if (max > 0) {
    const r = (deflate[kWs] as unknown as WsPrivate | undefined)?._receiver as ReceiverPrivate | null | undefined;
    deflate._maxPayload = Math.max(1, max - (r?._messageLength ?? 0));
  }
  decompress!.call(deflate, data, fin, (err, result) => {
    callback(err, result);
    if (err === null) deflate[kRaw]?.[kTransport]?.transportRead();
  });
}

/** The socket reads again (`ws.resume()`): an inflation that waited for it goes on. */
export function resumeInflation(ws: WebSocket): void {
  const deflate = deflateOf(ws) as WatchedDeflate | undefined;
  if (deflate != null && !ws.isPaused) deflate[kDeferred]?.();
}

/** Stops telling (at the socket's end); ws's own 'error' listener is back in place. */
export function unwatchTransport(ws: WebSocket): void {
  const raw = rawSocket(ws) as Watched | null;
  if (raw === null || raw[kTransport] === undefined) return;
  raw[kTransport] = undefined;
  const deflate = deflateOf(ws) as WatchedDeflate | undefined;
  if (deflate != null) deflate[kRaw] = undefined;
  if (raw.listenerCount('error', onTransportError) > 0) {
    raw.removeListener('error', onTransportError);
    raw.on('error', wsOnError!);
  }
  raw.removeListener('error', onTransportErrorAlone);
  raw.removeListener('data', onTransportRead);
}

/**
 * ws's own listener `name` for `event` on `raw`: found by name on the first
 * socket, then by identity (`known`), with no copy of the listener list per
 * socket. `undefined` when it is not there (a test fake, another copy of ws).
 */
function wsListener<F extends (this: Socket, ...args: never[]) => void>(raw: Socket, event: string, name: string, known: F | undefined): F | undefined {
  if (known !== undefined) return raw.listenerCount(event, known) > 0 ? known : undefined;
  return raw.rawListeners(event).find((listener) => listener.name === name) as F | undefined;
}

function onTransportError(this: Watched, error: Error): void {
  this[kTransport]?.transportFailed(error);
  wsOnError!.call(this, error);
}

function onTransportErrorAlone(this: Watched, error: Error): void {
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
 * fragments of an unfinished message (inflated, when compressed), each with
 * its overhead.
 */
export function receiverCost(ws: WebSocket): number {
  const r = (ws as unknown as WsPrivate)._receiver as ReceiverPrivate | null | undefined;
  if (r == null) return 0;
  const buffered = r._bufferedBytes ?? 0;
  const fragments = r._fragments?.length ?? 0;
  if (buffered === 0 && fragments === 0) return 0;
  // A compressed message's fragments are kept inflated: _messageLength counts those, _totalPayloadLength what came in.
  const payload = Math.max(r._totalPayloadLength ?? 0, r._messageLength ?? 0);
  return buffered + (r._buffers?.length ?? 0) * CHUNK_OVERHEAD + payload + fragments * FRAGMENT_OVERHEAD;
}

/**
 * Bounds the fragments of each message by what they carry: once ws has read a
 * frame's length (its own `haveLength()`, which adds a data frame's length to
 * the message's total), its fragment limit becomes `Defaults.freeFragments`
 * plus one per `Defaults.minFragmentBytes` bytes the message carries so far,
 * that frame included, never past the limit ws was configured with. ws
 * checks the limit as it takes the frame, and closes with 1008 "Too many
 * message fragments" at once past it: a peer sending 1-byte fragments is
 * stopped at its 33rd, while fragments carrying 64 bytes on average
 * (Autobahn's 4 MiB message in 64-byte pieces) never reach it.
 *
 * The receiver keeps `_maxFragments` a plain number (an accessor there would
 * turn every receiver into a slow dictionary object); the step is an own
 * `haveLength` that calls ws's, one function for every receiver.
 */
export function limitFragments(ws: WebSocket): void {
  const r = (ws as unknown as WsPrivate)._receiver as CappedReceiver | null | undefined;
  if (r == null || typeof r._maxFragments !== 'number' || typeof r._totalPayloadLength !== 'number') return;
  const own = (Object.getPrototypeOf(r) as { haveLength?: unknown }).haveLength as typeof haveLength;
  if (typeof own !== 'function') return;
  if (haveLength === undefined) haveLength = own;
  else if (haveLength !== own) return; // another copy of ws: left as it is
  r[kCap] = r._maxFragments;
  r.haveLength = cappedHaveLength;
}

const kCap = Symbol('rxjs-ws.fragmentCap');
type CappedReceiver = ReceiverPrivate & { [kCap]?: number; haveLength?: typeof cappedHaveLength };
/** ws's own `Receiver.prototype.haveLength`. */
let haveLength: ((this: CappedReceiver, cb: unknown) => void) | undefined;

function cappedHaveLength(this: CappedReceiver, cb: unknown): void {
  haveLength!.call(this, cb);
  const allowance = Defaults.freeFragments + Math.floor((this._totalPayloadLength ?? 0) / Defaults.minFragmentBytes);
  const cap = this[kCap] ?? 0;
  this._maxFragments = cap > 0 && cap < allowance ? cap : allowance;
}

interface ReceiverPrivate {
  _maxFragments?: number;
  _bufferedBytes?: number;
  _buffers?: unknown[];
  _totalPayloadLength?: number;
  _messageLength?: number;
  _fragments?: unknown[];
}

/**
 * Stops listening to the peer at once (a flood, or a holder the memory budget
 * evicts): nothing more it sends is read or parsed (ws's own 'data' listener,
 * which feeds its receiver, is removed too), what the receiver holds of an
 * unfinished message is let go, and our side ends (FIN) once what is queued,
 * the close frame included, is written. The connection is destroyed by ws's
 * close timer: by then the peer has long read our close frame, where a
 * destroy now would reset it (with unread data, the kernel answers RST) and
 * its kernel could discard the close frame unread.
 */
export function stopListening(ws: WebSocket): void {
  const raw = rawSocket(ws);
  if (raw === null) return;
  raw.removeAllListeners('data');
  raw.pause();
  const r = (ws as unknown as WsPrivate)._receiver as ReceiverPrivate | null | undefined;
  if (r != null) {
    // Nothing more is parsed, not even the rest of the read being parsed now (a close or a bad frame
    // there would have ws resume the socket to drain it).
    r._buffers = [];
    r._bufferedBytes = 0;
    r._fragments = [];
    r._totalPayloadLength = 0;
  }
  // With the close frame still queued behind a compression, ending now would drop it: ws's close timer ends it.
  if (senderIdle(ws)) raw.end();
}

/** Whether ws's sender has nothing of its own waiting (no compression under way, nothing queued behind one). */
function senderIdle(ws: WebSocket): boolean {
  const sender = (ws as unknown as WsPrivate)._sender;
  if (sender == null) return true; // nothing of ws's own between us and the TCP socket (a test fake)
  return sender._state === 0 && (sender._queue === undefined || sender._queue.length === 0);
}

/** What wants to hear that the peer's close frame arrived. */
export interface PeerCloseWatcher {
  peerClosing(): void;
}

const kWatcher = Symbol('rxjs-ws.peerClose');
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

/** Bytes the connection has read from and written to the network so far (the upgrade's HTTP included); 0 without one. */
export function transportBytes(ws: WebSocket, written: boolean): number {
  const raw = rawSocket(ws);
  if (raw === null) return 0;
  return written ? raw.bytesWritten : raw.bytesRead;
}

const kParked = Symbol('rxjs-ws.parked');
/** What the last read cost, in whole microseconds (a small integer: no number box per socket). */
const kCost = Symbol('rxjs-ws.readCost');
const kTurn = Symbol('rxjs-ws.turn');
type SharedSocket = Watched & { [kParked]?: boolean; [kCost]?: number; [kTurn]?: number };
/** ws's own key for the ws of a TCP socket (ws clears it when the socket closes). */
let kWebSocket: symbol | undefined;

/** ws's own 'data' listener, which feeds the receiver: one function for every socket. */
let feed: ((this: Socket, chunk: Buffer) => void) | undefined;
/** When the current turn's reading began; -1 before its first read. */
let turnStart = -1;
/** The current turn (a count), and how many sockets have read in it. */
let turn = 0;
let turnSockets = 0;
let turnScheduled = false;

/** Sockets paused with their data kept, in the order they came; holds none it has handed out. */
class Parked {
  #items: (SharedSocket | undefined)[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(raw: SharedSocket): void {
    this.#items.push(raw);
  }
  shift(): SharedSocket | undefined {
    const raw = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return raw;
  }
}
/** Sockets whose last read was cheap: read first. */
const light = new Parked();
/** The others (a read that cost more than `Defaults.lightReadMs`, or none yet). */
const heavy = new Parked();

/**
 * Shares reading fairly among the server's sockets: a turn of the event loop
 * reads for `Defaults.readTurnMs` at most once more than
 * `Defaults.socketsPerTurn` sockets have read in it (a few busy sockets are
 * left alone: they have nobody to be fair to); a socket whose data comes in past that is paused with its data put back in the stream, and read in a later
 * turn. Sockets whose last read was cheap and the others (costly, or new)
 * wait in two queues that take turns: a thousand peers whose reads are
 * costly cannot make a cheap one wait for all of them, and a stream of cheap
 * ones cannot starve the others. Data stays
 * in order: the stream holds it, so ws reads it on a close as well.
 *
 * It stands in for ws's 'data' listener, with that listener as its
 * `listener` (as `once()` does), so ws's own `removeListener('data',
 * socketOnData)` removes it.
 */
export function shareReads(ws: WebSocket): void {
  const raw = rawSocket(ws) as SharedSocket | null;
  if (raw === null || typeof raw.rawListeners !== 'function') return;
  const original = wsListener(raw, 'data', 'socketOnData', feed);
  if (original === undefined) return;
  if (feed === undefined) {
    feed = original;
    (sharedRead as { listener?: unknown }).listener = original;
  } else if (feed !== original) {
    return; // another copy of ws: left as it is
  }
  kWebSocket ??= Object.getOwnPropertySymbols(raw).find((key) => key.description === 'websocket' && (raw as unknown as Record<symbol, unknown>)[key] === ws);
  if (kWebSocket === undefined || (raw as unknown as Record<symbol, unknown>)[kWebSocket] !== ws) return;
  raw.removeListener('data', original);
  raw.prependListener('data', sharedRead);
}

function sharedRead(this: SharedSocket, chunk: Buffer): void {
  const start = performance.now();
  if (turnStart < 0) {
    turnStart = start;
    newTurn();
    scheduleTurn();
  }
  if (this[kTurn] !== turn) {
    this[kTurn] = turn;
    turnSockets++;
  }
  // Past the turn's time, a socket waits if many have read in this turn, or if others wait already (it goes behind them).
  if (start - turnStart >= Defaults.readTurnMs && (turnSockets > Defaults.socketsPerTurn || light.length + heavy.length > 0)) {
    this.pause();
    this.unshift(chunk);
    if (this[kParked] !== true) {
      this[kParked] = true;
      const cost = this[kCost];
      (cost !== undefined && cost < Defaults.lightReadMs * 1000 ? light : heavy).push(this);
      scheduleTurn();
    }
    return;
  }
  feed!.call(this, chunk);
  this[kCost] = Math.round((performance.now() - start) * 1000);
  this[kTransport]?.transportRead();
}

function newTurn(): void {
  turn = (turn + 1) | 0;
  turnSockets = 0;
}

function scheduleTurn(): void {
  if (turnScheduled) return;
  turnScheduled = true;
  setImmediate(nextTurn);
}

/** The check phase: reads parked sockets for a turn's time; the rest wait for the next turn, after the next poll. */
function nextTurn(): void {
  turnScheduled = false;
  turnStart = performance.now();
  newTurn();
  // The two queues take turns, so that cheap sockets go first but costly (or new) ones are never starved.
  let fromLight = true;
  while ((light.length > 0 || heavy.length > 0) && performance.now() - turnStart < Defaults.readTurnMs) {
    const raw = (heavy.length === 0 || (fromLight && light.length > 0) ? light : heavy).shift()!;
    fromLight = !fromLight;
    raw[kParked] = false;
    const ws = (raw as unknown as Record<symbol, WebSocket | undefined>)[kWebSocket!];
    if (ws === undefined || raw.destroyed || raw.listenerCount('data', sharedRead) === 0) continue; // closed, or no longer read
    raw.read(); // emits its data as 'data', to sharedRead first
    if (!isParked(raw) && !ws.isPaused && !receiverNeedsDrain(ws)) raw.resume();
  }
  turnStart = -1;
  if (light.length > 0 || heavy.length > 0) scheduleTurn();
}

/** Whether reading parked `raw` again (a function: TypeScript would narrow the flag it has just set). */
function isParked(raw: SharedSocket): boolean {
  return raw[kParked] === true;
}

function receiverNeedsDrain(ws: WebSocket): boolean {
  const r = (ws as unknown as WsPrivate)._receiver as { _writableState?: { needDrain?: boolean } } | null | undefined;
  return r?._writableState?.needDrain === true;
}

/** The private fields of permessage-deflate this module relies on, on a `ws` that negotiated it (for the spec that guards `ws` upgrades). */
export function deflateInternalsPresent(ws: WebSocket): Record<string, boolean> {
  const d = deflateOf(ws);
  const r = (ws as unknown as WsPrivate)._receiver as ReceiverPrivate | null | undefined;
  return {
    "_extensions['permessage-deflate']": d != null && typeof d.params === 'object' && d.params !== null,
    '_threshold': typeof d?._threshold === 'number',
    '_isServer': typeof d?._isServer === 'boolean',
    '_maxPayload': typeof d?._maxPayload === 'number',
    '_options': typeof d?._options === 'object' && d._options !== null,
    'decompress()': typeof (d == null ? undefined : (Object.getPrototypeOf(d) as DeflatePrivate).decompress) === 'function',
    '_sender._bufferedBytes': typeof (ws as unknown as WsPrivate)._sender?._bufferedBytes === 'number',
    '_receiver._messageLength': typeof r?._messageLength === 'number',
  };
}

/** Sockets waiting for a turn to read (for the specs). */
export function parkedReads(): number {
  return light.length + heavy.length;
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
    '_receiver._maxFragments': typeof (w._receiver as ReceiverPrivate | null | undefined)?._maxFragments === 'number',
    '_receiver.haveLength()': typeof (w._receiver as { haveLength?: unknown } | null | undefined)?.haveLength === 'function',
    // ws's own, or shareReads() in its place (standing for it as its `listener`).
    "_socket 'data' listener socketOnData":
      typeof w._socket?.rawListeners === 'function' &&
      w._socket.rawListeners('data').some((l) => l.name === 'socketOnData' || (l as { listener?: { name?: string } }).listener?.name === 'socketOnData'),
    "_socket 'error' listener socketOnError":
      typeof w._socket?.rawListeners === 'function' &&
      w._socket.rawListeners('error').some((l) => l.name === 'socketOnError' || (l as { listener?: { name?: string } }).listener?.name === 'socketOnError'),
    "_socket[Symbol('websocket')]":
      w._socket != null && Object.getOwnPropertySymbols(w._socket).some((key) => key.description === 'websocket' && (w._socket as unknown as Record<symbol, unknown>)[key] === ws),
    '_receiver._writableState.needDrain': typeof (w._receiver as { _writableState?: { needDrain?: unknown } } | null | undefined)?._writableState?.needDrain === 'boolean',
    "_receiver 'conclude'": typeof w._receiver?.on === 'function' && (w._receiver as unknown as { listenerCount(e: string): number }).listenerCount('conclude') > 0,
  };
}
