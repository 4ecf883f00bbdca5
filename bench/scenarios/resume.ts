/**
 * Small-message echo with resumable sessions off and on: the rxjs-ws echo
 * server (with `resume` on in the second case) and rxjs-ws clients in this
 * process (`connect()`, with `resume: true` in the second case), so the
 * ratio is what numbering, batched acknowledgements and the window cost on
 * both sides. Each of `connections` keeps `window` messages of `size` bytes
 * in flight; every echo is checked against what was sent. Reports echoes/s,
 * the server's CPU per echo and the bytes on the wire per echo (both ways,
 * TCP payload: frames, headers and acknowledgements included).
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { filter, firstValueFrom } from 'rxjs';
import { connect, type RxClient, type RxSocket } from 'rxjs-ws';
import type { DeflateSample, ResumeEcho } from '../results';
import type { ServerProcess } from '../server-process';
import { cpuPercent, median, sleep } from '../stats';

export interface ResumeParams {
  readonly connections: number;
  readonly window: number;
  readonly size: number;
  readonly rounds: number;
  readonly durationMs: number;
  readonly warmupMs: number;
}

/** Runs the rounds alternating servers; medians per server label. */
export async function compareResume(servers: readonly ServerProcess[], params: ResumeParams, log: (line: string) => void): Promise<ResumeEcho> {
  const samples: Record<string, DeflateSample[]> = Object.fromEntries(servers.map((s) => [s.spec.label, []]));
  for (const server of servers) await measure(server, { ...params, durationMs: 500 }); // warm-up
  for (let round = 1; round <= params.rounds; round++) {
    for (const server of servers) {
      const sample = await measure(server, params);
      samples[server.spec.label]!.push(sample);
      log(
        `  round ${round} ${server.spec.label.padEnd(18)} ${Math.round(sample.rate).toLocaleString('en-US').padStart(8)}/s  ` +
          `server ${sample.serverCpuMicros.toFixed(1)} µs/echo  ${sample.wireBytes.toFixed(1)} B/echo on the wire`,
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

async function measure(server: ServerProcess, params: ResumeParams): Promise<DeflateSample> {
  const resume = server.spec.args?.includes('--resume') === true;
  const sockets: Socket[] = [];
  const payload = 'x'.repeat(Math.max(0, params.size - 8));
  const clients: RxClient<RxSocket>[] = [];
  for (let i = 0; i < params.connections; i++) {
    clients.push(
      connect(`ws://127.0.0.1:${server.port}/`, {
        resume,
        reconnect: false,
        heartbeat: false,
        createConnection: ((options: { port: number; host: string }) => {
          const socket = tcpConnect(options);
          sockets[i] = socket;
          return socket;
        }) as never,
      }),
    );
  }
  const opened = await Promise.all(clients.map((c) => firstValueFrom(c.status$.pipe(filter((s) => s.state !== 'connecting')))));
  for (const status of opened) {
    if (status.state !== 'open') throw new Error(`${server.spec.label}: a client did not open (${status.state})`);
    if (resume && status.session?.state !== 'new') throw new Error(`${server.spec.label}: no resumable session (${status.session?.state})`);
  }
  let measuring = false;
  let sending = true;
  let echoes = 0;
  let inFlight = 0;
  let failure: string | null = null;
  const bytes = () => sockets.reduce((n, s) => n + s.bytesRead + s.bytesWritten, 0);
  clients.forEach((client, conn) => {
    let sent = 0;
    let expected = 0;
    const text = (seq: number) => `${seq.toString(36).padStart(8, '0')}${payload}`;
    const send = () => {
      client.next(text(sent++));
      inFlight++;
    };
    client.errors$.subscribe((error) => (failure ??= `${server.spec.label}: connection ${conn}: ${error.message}`));
    client.messages$.subscribe((data) => {
      inFlight--;
      if (data !== text(expected)) failure ??= `${server.spec.label}: connection ${conn}: echo ${expected} is not what was sent`;
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
  for (const client of clients) client.terminate();
  server.assertAlive();
  if (failure !== null) throw new Error(failure);
  if (inFlight > 0) throw new Error(`${server.spec.label}: ${inFlight} echoes lost`);
  const seconds = (s1.at - s0.at) / 1000;
  const serverCpu = cpuPercent(s0, s1, s1.at - s0.at);
  const rate = counted / seconds;
  return { rate, serverCpu, serverCpuMicros: ((serverCpu / 100) * 1e6) / rate, wireBytes: (b1 - b0) / counted };
}
