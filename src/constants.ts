/*
 * The codes the library itself sends or checks are also plain constants: a
 * bundler inlines those where they are used, while a property of `CloseCode`
 * would keep the whole table in the bundle.
 */
/** @internal 1000 (`CloseCode.NORMAL`). */
export const CLOSE_NORMAL = 1000;
/** @internal 1001 (`CloseCode.GOING_AWAY`). */
export const CLOSE_GOING_AWAY = 1001;
/** @internal 1005 (`CloseCode.NO_STATUS`). */
export const CLOSE_NO_STATUS = 1005;
/** @internal 1006 (`CloseCode.ABNORMAL`). */
export const CLOSE_ABNORMAL = 1006;
/** @internal 1011 (`CloseCode.INTERNAL_ERROR`). */
export const CLOSE_INTERNAL_ERROR = 1011;
/** @internal 1012 (`CloseCode.SERVICE_RESTART`). */
export const CLOSE_SERVICE_RESTART = 1012;
/** @internal 1013 (`CloseCode.TRY_AGAIN_LATER`). */
export const CLOSE_TRY_AGAIN_LATER = 1013;

/**
 * WebSocket close codes (RFC 6455 §7.4.1 and the IANA registry), by name.
 *
 * Codes an endpoint may put in a close frame are 1000–1003, 1007–1014 and
 * 3000–4999. `NO_STATUS` (1005) and `ABNORMAL` (1006) are never sent: they
 * only describe, locally, a close frame without a code and a connection that
 * ended without any close frame.
 */
export const CloseCode = {
  /** 1000: the purpose of the connection has been fulfilled. */
  NORMAL: CLOSE_NORMAL,
  /** 1001: the endpoint is going away (server shutdown, page navigation). */
  GOING_AWAY: CLOSE_GOING_AWAY,
  /** 1002: the peer broke the protocol. */
  PROTOCOL_ERROR: 1002,
  /** 1003: a kind of data the endpoint cannot accept (e.g. binary only). */
  UNSUPPORTED_DATA: 1003,
  /** 1005: the close frame had no code (local only, never sent). */
  NO_STATUS: CLOSE_NO_STATUS,
  /** 1006: the connection ended without a close frame (local only, never sent). */
  ABNORMAL: CLOSE_ABNORMAL,
  /** 1007: a message's payload was not consistent with its type (bad UTF-8, undecodable). */
  INVALID_PAYLOAD: 1007,
  /** 1008: the message broke the endpoint's policy. */
  POLICY_VIOLATION: 1008,
  /** 1009: a message was too big to process. */
  MESSAGE_TOO_BIG: 1009,
  /** 1010: the client expected an extension the server did not negotiate. */
  MANDATORY_EXTENSION: 1010,
  /** 1011: the server met an unexpected condition. */
  INTERNAL_ERROR: CLOSE_INTERNAL_ERROR,
  /** 1012: the service is restarting. */
  SERVICE_RESTART: CLOSE_SERVICE_RESTART,
  /** 1013: try again later (overload, or a peer too slow to keep up). */
  TRY_AGAIN_LATER: CLOSE_TRY_AGAIN_LATER,
} as const;

/** One of the named close codes. Application codes (3000–4999) are plain numbers. */
export type CloseCodeName = keyof typeof CloseCode;

/** The lifecycle of a socket, as a readable word rather than a number. */
export type SocketState = 'connecting' | 'open' | 'closing' | 'closed';

/**
 * The text frame a browser client sends as its heartbeat's ping (browsers
 * cannot send protocol pings). An rxjs-ws server answers it with `APP_PONG` and
 * keeps both from the app. The leading NUL keeps it apart from any text a
 * person would send.
 */
export const APP_PING = '\u0000rxjs-ws:ping';
/** The answer to `APP_PING`. */
export const APP_PONG = '\u0000rxjs-ws:pong';

/** The brand of a prepared frame (see `prepare()`), for code that cannot import its class (browsers). */
export const PREPARED: unique symbol = Symbol.for('rxjs-ws.prepared') as never;

/** Longest delay a Node timer honours (2^31 - 1 ms, ~24.8 days); longer ones fire after 1 ms. */
export const MAX_TIMER_DELAY = 2_147_483_647;

/** Longest close reason in bytes: a control frame carries 125, two are the code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** @internal Frames held while `messages$` has no subscriber (`Defaults.inboundHoldMessages`, and a client's `inboundHold`). */
export const DEFAULT_INBOUND_HOLD = 1_024;

/** @internal Bytes an outbound or offline queue holds by default. */
export const DEFAULT_QUEUE_BYTES = 1_048_576; // 1 MiB
/** @internal Frames an outbound or offline queue holds by default. */
export const DEFAULT_QUEUE_MESSAGES = 1_024;

/**
 * Defaults, in one place so that the docs and the code cannot drift. Sizes
 * are literals: a bundler keeps an unused table whose values are products
 * such as `1024 * 1024`, not knowing they are pure.
 */
export const Defaults = {
  /** Largest message a server accepts, in bytes (ws's own default is 100 MiB). */
  maxPayload: 1_048_576, // 1 MiB
  /** Largest message a client accepts, in bytes: it chose its server. */
  clientMaxPayload: 16_777_216, // 16 MiB
  /** Open sockets a server holds at most. */
  maxConnections: 10_000,
  /** Open sockets (and upgrades waiting on authenticate) per client address. */
  maxConnectionsPerAddress: 256,
  /** Handshakes a client address may start per second. */
  handshakesPerAddress: 100,
  /**
   * Fragments of one message are budgeted by bytes: each fragment counts as at
   * least this many bytes against `maxPayload`, so 64-byte fragments can carry
   * a whole `maxPayload` message while 1-byte fragments cannot pin thousands of
   * buffers per byte.
   */
  minFragmentBytes: 64,
  /**
   * Fragments of one message a server takes whatever their size; each
   * `minFragmentBytes` the message has carried so far allows one more (up to
   * `maxPayload / minFragmentBytes`, at most 65,536). Past that the peer is
   * closed with 1008 at once: a message of 1-byte fragments would pin a
   * buffer view (~160 bytes) per byte sent, and cost far more to parse than
   * to send.
   */
  freeFragments: 32,
  /**
   * Upgrades a server completes in one turn of the event loop; a burst beyond
   * waits for the next turns (a handshake costs about 0.3 ms), so the reads of
   * open sockets are not held up behind it.
   */
  upgradesPerTurn: 32,
  /**
   * Ms of reading a server does in one turn of the event loop (one pass of
   * its poll phase, or of its check phase). The sockets whose data comes in
   * past it are paused with their data kept, and read in later turns in the
   * order they came, so that a thousand peers sending at once cannot hold up
   * every other socket for the time it takes to serve them all.
   */
  readTurnMs: 5,
  /** Sockets that read in one turn before `readTurnMs` applies: a few busy sockets are read as fast as their data comes. */
  socketsPerTurn: 64,
  /** A read that costs less than this many ms puts its socket first in the queue for the next turn. */
  lightReadMs: 0.5,
  /** How long `close()` waits for closing handshakes before it terminates, in ms. */
  closeTimeout: 5_000,
  /** Frames held while `messages$` has no subscriber before the socket is paused. */
  inboundHoldMessages: DEFAULT_INBOUND_HOLD,
  /** Bytes held while `messages$` has no subscriber before the socket is paused. */
  inboundHoldBytes: 1_048_576, // 1 MiB
  /**
   * Control frames (pings and pongs) a peer may send per second (and at
   * once): `ws` answers each ping with a pong; past this, the socket closes
   * with 1008 "Too many pings" (or pongs). A `rateLimit` counts them too.
   */
  controlFramesPerSecond: 100,
  /**
   * Pongs owed to a peer that pings but does not read our answers: past this
   * many, the socket closes with 1008 "Too many pings" (ws's own guard, a bare
   * terminate, is set above it).
   */
  pongBacklog: 1024,
  /** How long an HTTP upgrade may take to arrive in full, in ms (slowloris guard). */
  handshakeTimeout: 10_000,
} as const;

/**
 * @internal What ws may buffer for one message, from its largest size: its
 * fragments count as 64 bytes each at least, and are 65,536 at most (4 MiB in
 * 64-byte fragments); the read chunks of one unfinished frame carry 1 KiB each
 * on average at least, and are 1,024 to 16,384.
 */
export function readLimits(maxPayload: number): { maxFragments: number; maxBufferedChunks: number } {
  return {
    maxFragments: Math.min(Math.ceil(maxPayload / Defaults.minFragmentBytes), 65_536),
    maxBufferedChunks: Math.min(Math.max(Math.ceil(maxPayload / 1024), 1024), 16_384),
  };
}
