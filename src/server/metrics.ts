import { HeartbeatTimeoutError } from '../errors';
import type { RxSocket } from '../socket/socket';
import { transportBytes } from '../socket/ws-internals';
import type { SocketStats } from '../types';
import type { MemoryBudget } from './budget';

/**
 * Why an upgrade was refused, in a few words that stay the same across
 * releases (a metric label, a log field):
 * - `origin`: the `Origin` header is not allowed (403);
 * - `auth`: `authenticate` refused, failed or timed out (401, 403, 500, 503 …);
 * - `max-connections`: the server holds `maxConnections` sockets (503);
 * - `per-address`: the client's address holds `maxConnectionsPerAddress` (503);
 * - `handshake-rate`: the address started more than `handshakesPerAddress` handshakes this second (429);
 * - `bad-handshake`: not a valid WebSocket upgrade (method, `Upgrade`, `Sec-WebSocket-Key`,
 *   `Sec-WebSocket-Version`), or a request Node could not parse or that took too long (400, 405, 408, 431);
 * - `not-found`: another path than `path` (404);
 * - `closing`: the server is closing (503).
 */
export type RefusalReason = 'origin' | 'auth' | 'max-connections' | 'per-address' | 'handshake-rate' | 'bad-handshake' | 'not-found' | 'closing';

/**
 * A server's counters at one moment: what `server.metrics$()` emits and
 * `server.metrics()` returns. Counters (`upgrades`, `messages`, `bytes`,
 * `closes`, `heartbeatTimeouts`, `rateLimited`) only grow from the server's
 * start; the rest (`open`, `outbound`, `memory`) are the state now.
 */
export interface ServerMetrics {
  /** When it was taken: the scheduler's `now()`, in ms. */
  readonly at: number;
  /** Sockets open now. */
  readonly open: number;
  /** Upgrades accepted (sockets opened), and refused by reason. */
  readonly upgrades: {
    readonly accepted: number;
    readonly refused: Readonly<Record<RefusalReason, number>>;
  };
  /**
   * Frames of every socket, open or closed, as each socket's `stats` counts
   * them: `received` from peers, `sent` to them, `refused` (closed, queue
   * full, not a frame), `dropped` (by the outbound policy, or unsent at the
   * end), `discarded` (read but not delivered).
   */
  readonly messages: SocketStats;
  /** Bytes read from and written to the network by the sockets: frames with their headers, the upgrade's HTTP included. */
  readonly bytes: { readonly received: number; readonly sent: number };
  /**
   * Sockets closed, by close code: the codes 1000–1015 each under their own
   * key (`'1000'`, `'1006'`, `'1008'` …), application codes by class
   * (`'3xxx'`, `'4xxx'`), anything else as `'other'`. A key appears with the
   * first close it counts.
   */
  readonly closes: Readonly<Record<string, number>>;
  /** What the open sockets have accepted and not yet written (`bufferedAmount`): in all, and the most one socket has. */
  readonly outbound: { readonly queuedBytes: number; readonly maxQueuedBytes: number };
  /** The memory budget: bytes in use now, its limit and the sockets it evicted; `null` when it is off. */
  readonly memory: { readonly used: number; readonly limit: number; readonly evictions: number } | null;
  /** Sockets terminated because their peer did not answer a ping in time. */
  readonly heartbeatTimeouts: number;
  /** Times a socket went over its rate limit (paused, or closed with 1008, by the policy). */
  readonly rateLimited: number;
  /**
   * Resumable sessions (`resume` option; `null` without it): `open` now (with
   * their client or waiting for it), `away` of them waiting for their client,
   * and, from the start, `resumed` connections, sessions `expired` (ttl) and
   * `evicted`.
   */
  readonly sessions: SessionCounts | null;
}

/** The sessions part of {@link ServerMetrics}. */
export interface SessionCounts {
  readonly open: number;
  readonly away: number;
  readonly resumed: number;
  readonly expired: number;
  readonly evicted: number;
}

/** @internal The label a close code is counted under (see {@link ServerMetrics.closes}): a bounded set. */
export function closeClass(code: number): string {
  if (code >= 1000 && code <= 1015) return String(code);
  if (code >= 3000 && code <= 3999) return '3xxx';
  if (code >= 4000 && code <= 4999) return '4xxx';
  return 'other';
}

/**
 * @internal A server's counters: plain numbers bumped where things happen
 * (an upgrade, a close), never per message. A socket's frame counters are
 * added in when it closes, and the open ones are walked when a snapshot is
 * taken.
 */
export class ServerCounters {
  accepted = 0;
  readonly refused: Record<RefusalReason, number> = {
    'bad-handshake': 0,
    'not-found': 0,
    closing: 0,
    origin: 0,
    'max-connections': 0,
    'per-address': 0,
    'handshake-rate': 0,
    auth: 0,
  };
  /** Frames and bytes of the sockets that have closed. */
  received = 0;
  sent = 0;
  refusedFrames = 0;
  dropped = 0;
  discarded = 0;
  bytesIn = 0;
  bytesOut = 0;
  readonly closes = new Map<string, number>();
  heartbeatTimeouts = 0;
  rateLimited = 0;

  /** A socket has closed: its counters join the closed ones'. */
  closed(socket: RxSocket<unknown>): void {
    const info = socket.closeInfo!;
    const stats = socket.stats;
    const label = closeClass(info.code);
    this.closes.set(label, (this.closes.get(label) ?? 0) + 1);
    this.received += stats.received;
    this.sent += stats.sent;
    this.refusedFrames += stats.refused;
    this.dropped += stats.dropped;
    this.discarded += stats.discarded;
    this.bytesIn += transportBytes(socket.ws, false);
    this.bytesOut += transportBytes(socket.ws, true);
    if (info.error instanceof HeartbeatTimeoutError) this.heartbeatTimeouts++;
  }
}

/** @internal The counters now: the closed sockets' and a walk over the open ones. */
export function snapshot(
  at: number,
  c: ServerCounters,
  sockets: ReadonlySet<RxSocket<unknown>>,
  budget: MemoryBudget | null,
  sessions: SessionCounts | null,
): ServerMetrics {
  let received = c.received;
  let sent = c.sent;
  let refused = c.refusedFrames;
  let dropped = c.dropped;
  let discarded = c.discarded;
  let bytesIn = c.bytesIn;
  let bytesOut = c.bytesOut;
  let queued = 0;
  let maxQueued = 0;
  for (const socket of sockets) {
    const stats = socket.stats;
    received += stats.received;
    sent += stats.sent;
    refused += stats.refused;
    dropped += stats.dropped;
    discarded += stats.discarded;
    bytesIn += transportBytes(socket.ws, false);
    bytesOut += transportBytes(socket.ws, true);
    const buffered = socket.bufferedAmount;
    queued += buffered;
    if (buffered > maxQueued) maxQueued = buffered;
  }
  return {
    at,
    open: sockets.size,
    upgrades: { accepted: c.accepted, refused: { ...c.refused } },
    messages: { received, sent, refused, dropped, discarded },
    bytes: { received: bytesIn, sent: bytesOut },
    closes: Object.fromEntries(c.closes),
    outbound: { queuedBytes: queued, maxQueuedBytes: maxQueued },
    memory: budget === null ? null : { used: budget.used, limit: budget.limit, evictions: budget.evictions },
    heartbeatTimeouts: c.heartbeatTimeouts,
    rateLimited: c.rateLimited,
    sessions,
  };
}
