/** Messages between the load client's main thread (pool.ts) and its workers (worker.ts). */

/** Opens `count` connections (ids from `firstId`), `parallel` at a time, and holds them. */
export interface ConnectCommand {
  readonly type: 'connect';
  readonly port: number;
  readonly firstId: number;
  readonly count: number;
  readonly parallel: number;
}

/** Echo load on the held connections: `window` messages in flight on each. */
export interface EchoCommand {
  readonly type: 'echo';
  readonly window: number;
  readonly size: number;
  readonly binary: boolean;
  /** Load before the measurement starts (not counted). */
  readonly warmupMs: number;
  readonly durationMs: number;
  /** How long the last echoes may take after sending stops, before they count as lost. */
  readonly drainMs: number;
}

/** Opens and cleanly closes `count` connections, `parallel` at a time. */
export interface HandshakeCommand {
  readonly type: 'handshakes';
  readonly port: number;
  readonly count: number;
  readonly parallel: number;
}

/** Closes the held connections: with the closing handshake, or by dropping them (`destroy`). */
export interface CloseCommand {
  readonly type: 'close';
  readonly destroy: boolean;
}

/**
 * Fan-out: from now on every held connection expects the text messages
 * `fanoutText(firstSeq)`, `fanoutText(firstSeq + 1)`, … of `size` bytes, each
 * once and in order, and nothing else.
 */
export interface FanoutStartCommand {
  readonly type: 'fanout-start';
  readonly firstSeq: number;
  readonly size: number;
}

/** Fan-out: answers once every held connection has received message `seq` (it may have already). */
export interface FanoutWaitCommand {
  readonly type: 'fanout-wait';
  readonly seq: number;
  readonly timeoutMs: number;
}

/** Counters of the held connections. */
export interface StatsCommand {
  readonly type: 'stats';
}

export type Command = ConnectCommand | EchoCommand | HandshakeCommand | CloseCommand | StatsCommand | FanoutStartCommand | FanoutWaitCommand;

export interface EchoReport {
  /** Echoes received inside the measured window. */
  readonly echoes: number;
  readonly measuredMs: number;
  /** Round-trip times of those echoes, ms. */
  readonly latencies: Float64Array;
  readonly sent: number;
  readonly received: number;
}

export interface TimedReport {
  readonly count: number;
  readonly ms: number;
}

export interface FanoutReport {
  /** process.hrtime.bigint() when the last of this worker's connections got the message. */
  readonly last: bigint;
  readonly deliveries: number;
}

export interface HeldReport {
  readonly connections: number;
  readonly pings: number;
}

/** Every reply carries the integrity violations seen since the last one. */
export interface Reply<T> {
  readonly ok: boolean;
  readonly result?: T;
  readonly error?: string;
  readonly violations: readonly string[];
}
