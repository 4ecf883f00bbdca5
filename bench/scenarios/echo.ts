/**
 * Echo throughput and latency, server against server: the same load client,
 * runs alternating A B A B over the rounds, medians per server. Serves the
 * small-message, large-message and scaling scenarios.
 */
import type { LoadClient } from '../client/pool';
import type { EchoParams } from '../config';
import type { EchoMedians, EchoSample, EchoScenario } from '../results';
import type { ServerProcess } from '../server-process';
import { cpuPercent, machinePercent, machineTicks, medianOfEach, percentile, processCpu, sleep } from '../stats';

const CONNECT_PARALLEL = 128;
const DRAIN_MS = 10_000;

/** Warms every server up once (unless `firstRunMs` is 0), then runs the rounds alternating servers. */
export async function compareEcho(
  client: LoadClient,
  servers: readonly ServerProcess[],
  params: EchoParams,
  log: (line: string) => void,
): Promise<EchoScenario> {
  if (params.firstRunMs > 0) {
    for (const server of servers) await measure(client, server, { ...params, warmupMs: 0, durationMs: params.firstRunMs }, 0);
  }
  const samples: Record<string, EchoSample[]> = Object.fromEntries(servers.map((s) => [s.spec.label, []]));
  for (let round = 1; round <= params.rounds; round++) {
    for (const server of servers) {
      const sample = await measure(client, server, params, round);
      samples[server.spec.label]!.push(sample);
      log(
        `  round ${round} ${server.spec.label.padEnd(8)} ${Math.round(sample.rate).toLocaleString('en-US').padStart(9)}/s  ` +
          `p99 ${sample.p99.toFixed(2)} ms  CPU: server ${sample.serverCpu.toFixed(0)} %, client ${sample.clientCpu.toFixed(0)} %, other ${sample.otherCpu.toFixed(0)} %`,
      );
    }
  }
  const medians: Record<string, EchoMedians> = {};
  for (const [label, list] of Object.entries(samples)) medians[label] = medianOf(list);
  const { connections, window, size, binary, rounds, durationMs } = params;
  return { connections, window, size, binary, rounds, durationMs, samples, medians };
}

/** One run: connect, load, measure (server and client CPU over the same window), close. */
async function measure(client: LoadClient, server: ServerProcess, params: EchoParams, round: number): Promise<EchoSample> {
  await client.connect(server.port, params.connections, CONNECT_PARALLEL);
  const { window, size, binary, warmupMs, durationMs } = params;
  const load = client.echo({ window, size, binary, warmupMs, durationMs, drainMs: DRAIN_MS });
  // Stop waiting on the clock if the load fails early (a violation rejects `load`).
  const failed = load.then(() => false, () => true);
  let cpu = { server: NaN, client: NaN, other: NaN };
  if (!(await Promise.race([sleep(warmupMs).then(() => false), failed]))) {
    const s0 = await server.stats('cpu');
    const [c0, m0] = [processCpu(), machineTicks()];
    await Promise.race([sleep(durationMs), failed]);
    const s1 = await server.stats('cpu');
    const [c1, m1] = [processCpu(), machineTicks()];
    const [serverCpu, ourClient] = [cpuPercent(s0, s1, s1.at - s0.at), cpuPercent(c0, c1, c1.at - c0.at)];
    cpu = { server: serverCpu, client: ourClient, other: Math.max(0, machinePercent(m0, m1) - serverCpu - ourClient) };
  }
  const totals = await load;
  await client.close();
  server.assertAlive();
  return {
    round,
    rate: totals.rate,
    p50: percentile(totals.latencies, 0.5),
    p90: percentile(totals.latencies, 0.9),
    p99: percentile(totals.latencies, 0.99),
    serverCpu: cpu.server,
    clientCpu: cpu.client,
    otherCpu: cpu.other,
    echoes: totals.echoes,
  };
}

function medianOf(samples: readonly EchoSample[]): EchoMedians {
  return medianOfEach(samples, ['rate', 'p50', 'p90', 'p99', 'serverCpu', 'clientCpu', 'otherCpu']);
}
