/**
 * Idle connections: server RSS and heap per open socket after a full GC,
 * above the server's own baseline, at growing counts; then the server's CPU
 * with the most sockets open and no traffic but the heartbeat's.
 */
import type { LoadClient } from '../client/pool';
import type { BenchConfig } from '../config';
import type { IdleVariant, MemoryLevel } from '../results';
import { withServers, type ProfileOptions, type ServerProcess, type ServerSpec } from '../server-process';
import { cpuPercent, sleep } from '../stats';

/** Connections opened and closed before the baseline, so lazily built code and pools count as baseline. */
const PRIMING_CONNECTIONS = 100;
/** Quiet time before the idle CPU window (a short heartbeat reaches its steady state). */
const SETTLE_MS = 1000;

export async function measureIdle(
  client: LoadClient,
  spec: ServerSpec,
  params: BenchConfig['idle'],
  profile: ProfileOptions | undefined,
  log: (line: string) => void,
): Promise<IdleVariant> {
  return withServers([spec], profile, async ([server]) => {
    try {
      return await measure(client, server!, params, log);
    } finally {
      // Drop our side first: a server that goes away first would look like a lost connection.
      await client.close(true);
    }
  });
}

async function measure(client: LoadClient, server: ServerProcess, params: BenchConfig['idle'], log: (line: string) => void): Promise<IdleVariant> {
  const label = server.spec.label;
  await client.connect(server.port, PRIMING_CONNECTIONS, params.parallel);
  await client.close();
  await until(async () => (await server.stats('cpu')).connections === 0, `${label}: primed connections did not close`);
  const base = await server.stats('mem');
  const levels: MemoryLevel[] = [];
  let open = 0;
  for (const level of params.levels) {
    await client.connect(server.port, level - open, params.parallel, open);
    open = level;
    const s = await server.stats('mem');
    if (s.connections !== level) throw new Error(`${label}: the server counts ${s.connections} connections, the client opened ${level}`);
    const rssPerConnection = (s.rss - base.rss) / level;
    const heapPerConnection = (s.heapUsed - base.heapUsed) / level;
    levels.push({ connections: level, rss: s.rss, heapUsed: s.heapUsed, rssPerConnection, heapPerConnection });
    log(`  ${label.padEnd(22)} ${String(level).padStart(6)} idle: ${kb(rssPerConnection)} KiB RSS, ${kb(heapPerConnection)} KiB heap per connection`);
  }
  await sleep(SETTLE_MS);
  const p0 = await client.held();
  const s0 = await server.stats('cpu');
  await sleep(params.cpuMs);
  const s1 = await server.stats('cpu');
  const p1 = await client.held();
  if (p1.connections !== open || s1.connections !== open) {
    throw new Error(`${label}: ${open} idle connections became ${p1.connections} (client) / ${s1.connections} (server)`);
  }
  const idleCpu = cpuPercent(s0, s1, s1.at - s0.at);
  const pings = p1.pings - p0.pings;
  log(`  ${label.padEnd(22)} ${String(open).padStart(6)} idle: CPU ${idleCpu.toFixed(2)} % over ${((s1.at - s0.at) / 1000).toFixed(1)} s, ${pings} pings`);
  return { label, baseline: { rss: base.rss, heapUsed: base.heapUsed }, levels, idleCpu, idleCpuMs: s1.at - s0.at, pings };
}

async function until(condition: () => Promise<boolean>, message: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(message);
    await sleep(50);
  }
}

function kb(bytes: number): string {
  return (bytes / 1024).toFixed(2);
}
