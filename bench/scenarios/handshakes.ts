/**
 * Handshakes per second: open and cleanly close connections with bounded
 * parallelism, A B A B. The server's CPU per connection is measured too: it
 * compares the servers even when the client, not the server, sets the pace.
 */
import type { LoadClient } from '../client/pool';
import type { BenchConfig } from '../config';
import type { HandshakeSample, HandshakeScenario } from '../results';
import type { ServerProcess } from '../server-process';
import { cpuPercent, median } from '../stats';

export async function compareHandshakes(
  client: LoadClient,
  servers: readonly ServerProcess[],
  params: BenchConfig['handshakes'],
  log: (line: string) => void,
): Promise<HandshakeScenario> {
  for (const server of servers) await client.handshakes(server.port, params.warmup, params.parallel);
  const samples: Record<string, HandshakeSample[]> = Object.fromEntries(servers.map((s) => [s.spec.label, []]));
  for (let round = 1; round <= params.rounds; round++) {
    // A B, then B A: neither server always runs on the heels of the other.
    for (const server of round % 2 === 1 ? servers : [...servers].reverse()) {
      const before = await server.stats('cpu');
      const rate = await client.handshakes(server.port, params.connections, params.parallel);
      const after = await server.stats('cpu');
      server.assertAlive();
      const cpuMs = (after.cpuUser - before.cpuUser + after.cpuSystem - before.cpuSystem) / 1000;
      const sample = { rate, serverCpu: cpuPercent(before, after, after.at - before.at), cpuMicrosPerConnection: (cpuMs * 1000) / params.connections };
      samples[server.spec.label]!.push(sample);
      log(
        `  round ${round} ${server.spec.label.padEnd(8)} ${Math.round(rate).toLocaleString('en-US').padStart(9)} opens/s  ` +
          `server CPU ${sample.serverCpu.toFixed(0)} %, ${sample.cpuMicrosPerConnection.toFixed(0)} µs per connection`,
      );
    }
  }
  const medians = Object.fromEntries(
    Object.entries(samples).map(([label, list]) => [
      label,
      {
        rate: median(list.map((s) => s.rate)),
        serverCpu: median(list.map((s) => s.serverCpu)),
        cpuMicrosPerConnection: median(list.map((s) => s.cpuMicrosPerConnection)),
      },
    ]),
  );
  const [first, second] = servers.map((s) => samples[s.spec.label]!);
  const ratios = first!.map((raw, i) => second![i]!.rate / raw.rate);
  return { connections: params.connections, parallel: params.parallel, rounds: params.rounds, samples, medians, pairedRatio: median(ratios) };
}
