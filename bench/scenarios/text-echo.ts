/**
 * A text echo measured with clients in this process, for scenarios whose
 * clients speak something the lean load client does not (an extension, a
 * subprotocol): each of `connections` keeps `window` messages in flight, and
 * every echo is checked against what was sent. Reports echoes/s, the
 * server's CPU per echo, and the bytes both ways on the wire per echo (TCP
 * payload, frames and headers included). The scenario says how to open a
 * client and what its messages are.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import type { DeflateEcho, DeflateSample } from '../results';
import type { ServerProcess } from '../server-process';
import { cpuPercent, medianOfEach, sleep } from '../stats';

export interface TextEchoParams {
  readonly connections: number;
  readonly window: number;
  /** Bytes of each message, about. */
  readonly size: number;
  readonly rounds: number;
  readonly durationMs: number;
  readonly warmupMs: number;
}

/** One client of the echo, open. */
export interface TextPeer {
  send(text: string): void;
  end(): void;
}

/** What a scenario gives the runner. */
export interface TextEchoClients {
  /**
   * Opens client `conn` of `server` over `createConnection` (so its bytes are
   * counted) and resolves once it is open; tells `echo` each frame it
   * receives (`null` for a binary one) and `fail` anything that went wrong.
   */
  open(
    server: ServerProcess,
    createConnection: (options: { port: number; host: string }) => Socket,
    echo: (text: string | null) => void,
    fail: (why: string) => void,
  ): Promise<TextPeer>;
  /** Message `seq` of client `conn`. */
  message(conn: number, seq: number, size: number): string;
}

const KEYS = ['rate', 'serverCpu', 'serverCpuMicros', 'wireBytes'] as const;

/** Runs the rounds alternating servers; medians per server label. */
export async function compareTextEcho(
  servers: readonly ServerProcess[],
  params: TextEchoParams,
  clients: TextEchoClients,
  log: (line: string) => void,
): Promise<DeflateEcho> {
  const samples: Record<string, DeflateSample[]> = Object.fromEntries(servers.map((s) => [s.spec.label, []]));
  for (const server of servers) await measure(server, { ...params, durationMs: 500 }, clients); // warm-up
  for (let round = 1; round <= params.rounds; round++) {
    for (const server of servers) {
      const sample = await measure(server, params, clients);
      samples[server.spec.label]!.push(sample);
      log(
        `  round ${round} ${server.spec.label.padEnd(18)} ${Math.round(sample.rate).toLocaleString('en-US').padStart(8)}/s  ` +
          `server ${sample.serverCpuMicros.toFixed(1)} µs/echo  ${sample.wireBytes.toFixed(1)} B/echo on the wire`,
      );
    }
  }
  const medians = Object.fromEntries(Object.entries(samples).map(([label, list]) => [label, medianOfEach(list, KEYS)]));
  const { connections, window, size, rounds, durationMs } = params;
  return { connections, window, size, rounds, durationMs, samples, medians };
}

async function measure(server: ServerProcess, params: TextEchoParams, clients: TextEchoClients): Promise<DeflateSample> {
  const sockets: Socket[] = [];
  let measuring = false;
  let sending = true;
  let echoes = 0;
  let inFlight = 0;
  let failure: string | null = null;
  const fail = (why: string) => void (failure ??= `${server.spec.label}: ${why}`);
  const peers = await Promise.all(
    Array.from({ length: params.connections }, (_, conn) => {
      let sent = 0;
      let expected = 0;
      let peer: TextPeer | undefined;
      const send = () => {
        peer!.send(clients.message(conn, sent++, params.size));
        inFlight++;
      };
      const echo = (text: string | null) => {
        inFlight--;
        if (text !== clients.message(conn, expected, params.size)) fail(`connection ${conn}: echo ${expected} is not what was sent`);
        expected++;
        if (measuring) echoes++;
        if (sending) send();
      };
      const createConnection = (options: { port: number; host: string }) => (sockets[conn] = tcpConnect(options));
      return clients.open(server, createConnection, echo, (why) => fail(`connection ${conn}: ${why}`)).then((opened) => {
        peer = opened;
        for (let i = 0; i < params.window; i++) send();
        return opened;
      });
    }),
  );
  const bytes = () => sockets.reduce((n, s) => n + s.bytesRead + s.bytesWritten, 0);
  await sleep(params.warmupMs);
  const [s0, b0] = [await server.stats('cpu'), bytes()];
  measuring = true;
  await sleep(params.durationMs);
  measuring = false;
  const [s1, b1, counted] = [await server.stats('cpu'), bytes(), echoes];
  sending = false;
  const deadline = performance.now() + 10_000;
  while (inFlight > 0 && performance.now() < deadline) await sleep(10);
  for (const peer of peers) peer.end();
  server.assertAlive();
  if (failure !== null) throw new Error(failure);
  if (inFlight > 0) throw new Error(`${server.spec.label}: ${inFlight} echoes lost`);
  const seconds = (s1.at - s0.at) / 1000;
  const serverCpu = cpuPercent(s0, s1, s1.at - s0.at);
  const rate = counted / seconds;
  return { rate, serverCpu, serverCpuMicros: ((serverCpu / 100) * 1e6) / rate, wireBytes: (b1 - b0) / counted };
}
