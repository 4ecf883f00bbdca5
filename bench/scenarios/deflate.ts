/**
 * JSON echo with and without permessage-deflate, rxjs-ws against raw `ws` with
 * the same settings (`perMessageDeflate: true`: ws's defaults on both
 * sides). The load comes from `ws` clients in this process that offer
 * deflate as the server does (the lean load client speaks no extension):
 * each of `connections` keeps `window` JSON messages of about `size` bytes
 * in flight, and every echo is checked against what was sent. Reports
 * echoes/s, the server's CPU per echo, and the bytes both ways on the wire
 * per echo (TCP payload, frames and headers included).
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { DeflateEcho, DeflateSample } from '../results';
import type { ServerProcess } from '../server-process';
import { cpuPercent, median, sleep } from '../stats';

export interface DeflateParams {
  readonly connections: number;
  readonly window: number;
  /** Bytes of each JSON message, about. */
  readonly size: number;
  readonly rounds: number;
  readonly durationMs: number;
  readonly warmupMs: number;
}

/** Runs the rounds alternating servers; medians per server label. */
export async function compareDeflate(servers: readonly ServerProcess[], params: DeflateParams, log: (line: string) => void): Promise<DeflateEcho> {
  const samples: Record<string, DeflateSample[]> = Object.fromEntries(servers.map((s) => [s.spec.label, []]));
  for (const server of servers) await measure(server, { ...params, durationMs: 500 }); // warm-up
  for (let round = 1; round <= params.rounds; round++) {
    for (const server of servers) {
      const sample = await measure(server, params);
      samples[server.spec.label]!.push(sample);
      log(
        `  round ${round} ${server.spec.label.padEnd(18)} ${Math.round(sample.rate).toLocaleString('en-US').padStart(8)}/s  ` +
          `server ${sample.serverCpuMicros.toFixed(1)} µs/echo  ${Math.round(sample.wireBytes)} B/echo on the wire`,
      );
    }
  }
  const medians: Record<string, DeflateSample> = {};
  for (const [label, list] of Object.entries(samples)) {
    medians[label] = {
      rate: median(list.map((s) => s.rate)),
      serverCpu: median(list.map((s) => s.serverCpu)),
      serverCpuMicros: median(list.map((s) => s.serverCpuMicros)),
      wireBytes: median(list.map((s) => s.wireBytes)),
    };
  }
  const { connections, window, size, rounds, durationMs } = params;
  return { connections, window, size, rounds, durationMs, samples, medians };
}

/** A JSON message of about `size` bytes carrying its connection and sequence number. */
function message(conn: number, seq: number, size: number): string {
  const rows: string[] = [];
  let length = 40;
  for (let i = 0; length < size; i++) {
    const row = `{"id":${i},"name":"item ${i}","price":${(i * 1.25).toFixed(2)},"tags":["new","sale"]}`;
    rows.push(row);
    length += row.length + 1;
  }
  return `{"conn":${conn},"seq":${seq},"rows":[${rows.join(',')}]}`;
}

async function measure(server: ServerProcess, params: DeflateParams): Promise<DeflateSample> {
  const deflate = server.spec.args?.includes('--deflate') === true;
  const sockets: Socket[] = [];
  const clients = await Promise.all(
    Array.from(
      { length: params.connections },
      (_, i) =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, {
            perMessageDeflate: deflate,
            createConnection: (options: object) => {
              const socket = tcpConnect(options as { port: number; host: string });
              sockets[i] = socket;
              return socket;
            },
          });
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    ),
  );
  if (deflate && clients.some((c) => c.extensions !== 'permessage-deflate')) throw new Error(`${server.spec.label}: permessage-deflate not negotiated`);
  let measuring = false;
  let sending = true;
  let echoes = 0;
  let inFlight = 0;
  let failure: string | null = null;
  const bytes = () => sockets.reduce((n, s) => n + s.bytesRead + s.bytesWritten, 0);
  clients.forEach((ws, conn) => {
    let sent = 0;
    let expected = 0;
    const send = () => {
      ws.send(message(conn, sent++, params.size));
      inFlight++;
    };
    ws.on('message', (data, isBinary) => {
      inFlight--;
      if (isBinary || data.toString() !== message(conn, expected, params.size)) failure ??= `${server.spec.label}: connection ${conn}: echo ${expected} is not what was sent`;
      expected++;
      if (measuring) echoes++;
      if (sending) send();
    });
    for (let i = 0; i < params.window; i++) send();
  });
  await sleep(params.warmupMs);
  const [s0, b0] = [await server.stats('cpu'), bytes()];
  measuring = true;
  await sleep(params.durationMs);
  measuring = false;
  const [s1, b1, counted] = [await server.stats('cpu'), bytes(), echoes];
  sending = false;
  const deadline = performance.now() + 10_000;
  while (inFlight > 0 && performance.now() < deadline) await sleep(10);
  for (const ws of clients) ws.terminate();
  server.assertAlive();
  if (failure !== null) throw new Error(failure);
  if (inFlight > 0) throw new Error(`${server.spec.label}: ${inFlight} echoes lost`);
  const seconds = (s1.at - s0.at) / 1000;
  const serverCpu = cpuPercent(s0, s1, s1.at - s0.at);
  const rate = counted / seconds;
  return { rate, serverCpu, serverCpuMicros: ((serverCpu / 100) * 1e6) / rate, wireBytes: (b1 - b0) / counted };
}
