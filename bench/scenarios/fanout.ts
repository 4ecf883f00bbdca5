/**
 * Fan-out: one small text message to every one of many sockets, the server
 * each time given the message once. Raw ws sends it in a plain loop of
 * `ws.send`; rxjs-ws publishes it to a hub topic every socket joined. Each
 * round measures from just before the server's first send to the moment the
 * last client has the message (both processes read the same monotonic
 * clock); every client checks that it got each message once, in order, byte
 * for byte. The load client cannot hold both servers' sockets at once, so
 * the rounds come in blocks (A B, then B A), each on freshly opened sockets.
 */
import type { LoadClient } from '../client/pool';
import type { BenchConfig } from '../config';
import type { FanoutSample, FanoutScenario } from '../results';
import type { ServerProcess } from '../server-process';
import { cpuPercent, machinePercent, machineTicks, median, medianOfEach, processCpu, sleep } from '../stats';

const DELIVERY_TIMEOUT_MS = 30_000;
const SETTLE_TIMEOUT_MS = 30_000;

export async function compareFanout(
  client: LoadClient,
  servers: readonly ServerProcess[],
  params: BenchConfig['fanout'],
  log: (line: string) => void,
): Promise<FanoutScenario> {
  const samples: Record<string, FanoutSample[]> = Object.fromEntries(servers.map((s) => [s.spec.label, []]));
  const perBlock = Math.ceil(params.rounds / params.blocks);
  let seq = 0;
  for (let block = 1; block <= params.blocks; block++) {
    for (const server of block % 2 === 1 ? servers : [...servers].reverse()) {
      const label = server.spec.label;
      const opened = await client.connect(server.port, params.sockets, params.parallel);
      await until(server, params.sockets);
      await client.fanoutStart(seq, params.size);
      log(`  block ${block} ${label.padEnd(8)} ${params.sockets} sockets open in ${(opened.ms / 1000).toFixed(1)} s`);
      for (let round = 0; round < params.warmup; round++) await broadcast(client, server, seq++, params);
      const [s0, c0, m0] = [await server.stats('cpu'), processCpu(), machineTicks()];
      const measured: Omit<FanoutSample, 'otherCpu'>[] = [];
      for (let round = 0; round < perBlock; round++) measured.push(await broadcast(client, server, seq++, params));
      const [s1, c1, m1] = [await server.stats('cpu'), processCpu(), machineTicks()];
      // CPU used by everything but the server and the bench process (client threads included) over the block, % of one core.
      const otherCpu = Math.max(0, machinePercent(m0, m1) - cpuPercent(s0, s1, s1.at - s0.at) - cpuPercent(c0, c1, c1.at - c0.at));
      samples[label]!.push(...measured.map((s) => ({ ...s, otherCpu })));
      const m = median(measured.map((s) => s.toLastMs));
      log(`  block ${block} ${label.padEnd(8)} to last delivery: median ${m.toFixed(1)} ms (${measured.map((s) => s.toLastMs.toFixed(1)).join(', ')}); other CPU ${otherCpu.toFixed(0)} %`);
      await client.close(true);
      await until(server, 0);
      server.assertAlive();
    }
  }
  const medians = Object.fromEntries(Object.entries(samples).map(([label, list]) => [label, medianOf(list)]));
  const rounds = perBlock * params.blocks;
  return { sockets: params.sockets, size: params.size, rounds, blocks: params.blocks, samples, medians };
}

/** One round: the server sends message `seq` to every socket; resolves once every client has it. */
async function broadcast(client: LoadClient, server: ServerProcess, seq: number, params: BenchConfig['fanout']): Promise<Omit<FanoutSample, 'otherCpu'>> {
  const delivered = client.fanoutWait(seq, DELIVERY_TIMEOUT_MS);
  const [sent, received] = await Promise.all([server.broadcast(seq, params.size), delivered]);
  if (sent.sent !== params.sockets) throw new Error(`${server.spec.label}: message ${seq} went to ${sent.sent} sockets, not ${params.sockets}`);
  if (received.deliveries !== params.sockets) throw new Error(`${server.spec.label}: message ${seq} reached ${received.deliveries} clients, not ${params.sockets}`);
  const toLastMs = Number(received.last - BigInt(sent.t0)) / 1e6;
  return {
    toLastMs,
    deliveriesPerSecond: (params.sockets * 1000) / toLastMs,
    loopMs: sent.loopMs,
    handedMs: sent.handedMs,
    serverUserMs: sent.userMs,
    serverSystemMs: sent.systemMs,
  };
}

function medianOf(list: readonly FanoutSample[]): FanoutSample {
  return medianOfEach(list, ['toLastMs', 'deliveriesPerSecond', 'loopMs', 'handedMs', 'serverUserMs', 'serverSystemMs', 'otherCpu']);
}

/** Waits until the server counts `connections` open sockets. */
async function until(server: ServerProcess, connections: number): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (let n = (await server.stats('cpu')).connections; n !== connections; n = (await server.stats('cpu')).connections) {
    if (Date.now() > deadline) throw new Error(`${server.spec.label}: ${n} sockets open, expected ${connections}`);
    await sleep(50);
  }
}
