/** The shape of the bench's results: what the scenarios produce and report.ts prints and saves. */
import type { EchoParams } from './config';

/** What a scenario measured, by server label: every sample, and their medians. */
export interface ByServer<Sample, Medians = Sample> {
  readonly samples: Readonly<Record<string, readonly Sample[]>>;
  readonly medians: Readonly<Record<string, Medians>>;
}

/** One measured echo run against one server. */
export interface EchoSample {
  readonly round: number;
  /** Echo round trips per second. */
  readonly rate: number;
  /** Round-trip latency percentiles, ms. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  /** CPU of the server process while measured, % of one core. */
  readonly serverCpu: number;
  /** CPU of the load client (all its threads) while measured, % of one core. */
  readonly clientCpu: number;
  /** CPU used by everything else on the machine meanwhile, % of one core (should be ~0). */
  readonly otherCpu: number;
  readonly echoes: number;
}

/** The medians of a server's samples. */
export type EchoMedians = Omit<EchoSample, 'round' | 'echoes'>;

/** An echo scenario's parameters (as configured) and what it measured. */
export interface EchoScenario extends Pick<EchoParams, 'connections' | 'window' | 'size' | 'binary' | 'rounds' | 'durationMs'>, ByServer<EchoSample, EchoMedians> {}

/** One round of opening and closing connections against one server. */
export interface HandshakeSample {
  /** Connections opened (and closed) per second. */
  readonly rate: number;
  /** CPU of the server process meanwhile, % of one core. */
  readonly serverCpu: number;
  /** Server CPU time per connection opened and closed, µs. */
  readonly cpuMicrosPerConnection: number;
}

export interface HandshakeScenario extends ByServer<HandshakeSample> {
  readonly connections: number;
  readonly parallel: number;
  readonly rounds: number;
  /**
   * Median over rounds of rxjs-ws's rate / raw's rate in the same round: pairs
   * measurements taken seconds apart, so slow drift of the machine cancels.
   */
  readonly pairedRatio: number;
}

/** Server memory with `connections` idle sockets open, after a full GC. */
export interface MemoryLevel {
  readonly connections: number;
  readonly rss: number;
  readonly heapUsed: number;
  /** Above the baseline, per connection, bytes. */
  readonly rssPerConnection: number;
  readonly heapPerConnection: number;
}

export interface IdleVariant {
  readonly label: string;
  readonly baseline: { readonly rss: number; readonly heapUsed: number };
  readonly levels: readonly MemoryLevel[];
  /** Server CPU with the most sockets open and nothing sent, % of one core. */
  readonly idleCpu: number;
  readonly idleCpuMs: number;
  /** Pings the client saw during the idle CPU window. */
  readonly pings: number;
}

/** One JSON echo run with or without permessage-deflate. */
export interface DeflateSample {
  /** Echoes per second. */
  readonly rate: number;
  /** CPU of the server process while measured, % of one core. */
  readonly serverCpu: number;
  /** Server CPU time per echo, µs. */
  readonly serverCpuMicros: number;
  /** Bytes on the wire per echo, both ways (TCP payload: frames and headers). */
  readonly wireBytes: number;
}

export interface DeflateEcho extends ByServer<DeflateSample> {
  readonly connections: number;
  readonly window: number;
  readonly size: number;
  readonly rounds: number;
  readonly durationMs: number;
}

/** One broadcast of one message to every socket. */
export interface FanoutSample {
  /** From just before the server's first send to the last client's receipt, ms. */
  readonly toLastMs: number;
  /** Sockets / toLastMs, per second. */
  readonly deliveriesPerSecond: number;
  /** The server's synchronous send loop, ms. */
  readonly loopMs: number;
  /** Until the server's writes of that tick were done (the next setImmediate), ms. */
  readonly handedMs: number;
  /** Server CPU over that, ms: in the process itself, and in the kernel (the writes, and on loopback the peer's receiving too). */
  readonly serverUserMs: number;
  readonly serverSystemMs: number;
  /** CPU used by everything else on the machine over the round's block, % of one core (should be ~0). */
  readonly otherCpu: number;
}

export interface FanoutScenario extends ByServer<FanoutSample> {
  readonly sockets: number;
  readonly size: number;
  /** Measured rounds per server, in all. */
  readonly rounds: number;
  /** Each server's rounds come in this many blocks, A B then B A, each on freshly opened sockets. */
  readonly blocks: number;
}

/** Small-message echo with resumable sessions off and on (same fields as the deflate echo). */
export type ResumeEcho = DeflateEcho;

export interface Machine {
  readonly cpus: number;
  readonly model: string;
  readonly memoryBytes: number;
  readonly platform: string;
  readonly node: string;
  readonly ws: string;
  readonly rxjs: string;
  /** 1-, 5- and 15-minute load averages when the bench started (other work on the machine skews the figures). */
  readonly loadAverage: readonly number[];
}

export interface Verdict {
  readonly name: string;
  readonly ratio: number;
  readonly op: '>=' | '<=';
  readonly target: number;
  readonly pass: boolean;
}

export interface BenchResults {
  readonly command: string;
  /** The rxjs-ws revision measured: the git commit, `+dirty` when src/ has uncommitted changes. */
  readonly revision: string;
  readonly date: string;
  readonly machine: Machine;
  /** Worker threads of the load client. */
  readonly clientThreads: number;
  readonly durationMs: number;
  readonly small?: EchoScenario;
  readonly large?: EchoScenario;
  readonly handshakes?: HandshakeScenario;
  readonly idle?: readonly IdleVariant[];
  readonly scaling?: readonly EchoScenario[];
  readonly deflate?: DeflateEcho;
  /** Small-message echo against rxjs-ws with metrics off and on. */
  readonly metrics?: EchoScenario;
  /** Small-message echo with resumable sessions off and on. */
  readonly resume?: ResumeEcho;
  /** One small message to many sockets: raw ws's loop of ws.send against rxjs-ws's hub.publish. */
  readonly fanout?: FanoutScenario;
  readonly verdicts: readonly Verdict[];
  /** Integrity failures or crashes; the bench exits non-zero when there is any. */
  readonly failures: readonly string[];
}
