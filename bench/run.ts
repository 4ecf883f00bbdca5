/**
 * `npm run bench`: the rxjs-ws echo server against the plainest `ws` echo
 * server, both as child processes, measured by the same load client (worker
 * threads) in the same run; for fan-out, the same servers broadcast one
 * message to every socket (a loop of `ws.send`, `hub.publish`). Prints Markdown tables on stdout (progress goes
 * to stderr), writes bench/results/latest.json, and exits non-zero on an
 * integrity failure or a crash; a missed target is reported, not fatal.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bundleSizeReport } from './bundle-size';
import { IntegrityError, LoadClient } from './client/pool';
import { parseArgs, type BenchConfig } from './config';
import { formatProfile, summarizeProfile } from './profile';
import { formatResults, judge, machine, revision, writeResults } from './report';
import type { BenchResults, EchoScenario, IdleVariant } from './results';
import { compareEcho } from './scenarios/echo';
import { compareDeflate } from './scenarios/deflate';
import { compareFanout } from './scenarios/fanout';
import { compareHandshakes } from './scenarios/handshakes';
import { compareResume } from './scenarios/resume';
import { measureIdle } from './scenarios/idle';
import { RAW, RAW_DEFLATE, RXJS_WS, RXJS_WS_DEFLATE, RXJS_WS_HUB, RXJS_WS_METRICS, RXJS_WS_RESUME, RXJS_WS_UNBATCHED, withServers, type ProfileOptions, type ServerSpec } from './server-process';

const ROOT = join(__dirname, '..', '..');
const RESULTS_DIR = join(ROOT, 'bench', 'results');

type Collected = { -readonly [K in keyof BenchResults]?: BenchResults[K] };

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function runScenarios(config: BenchConfig, client: LoadClient, profile: ProfileOptions | undefined, into: Collected): Promise<void> {
  const pair = [RAW, RXJS_WS];
  if (config.only.has('small')) {
    log('small messages');
    const specs = config.unbatched ? [...pair, RXJS_WS_UNBATCHED] : pair;
    into.small = await withServers(specs, profile, (servers) => compareEcho(client, servers, config.small, log));
  }
  if (config.only.has('large')) {
    log('large messages');
    into.large = await withServers(pair, profile, (servers) => compareEcho(client, servers, config.large, log));
  }
  if (config.only.has('handshakes')) {
    log('handshakes');
    into.handshakes = await withServers(pair, profile, (servers) => compareHandshakes(client, servers, config.handshakes, log));
  }
  if (config.only.has('scaling')) {
    const { levels, ...params } = config.scaling;
    const scaling: EchoScenario[] = (into.scaling = []);
    await withServers(pair, profile, async (servers) => {
      for (const [i, connections] of levels.entries()) {
        log(`scaling: ${connections} connections`);
        scaling.push(await compareEcho(client, servers, { ...params, connections, firstRunMs: i === 0 ? params.firstRunMs : 0 }, log));
      }
    });
  }
  if (config.only.has('deflate')) {
    log('JSON echo with and without permessage-deflate');
    into.deflate = await withServers([RAW, RXJS_WS, RAW_DEFLATE, RXJS_WS_DEFLATE], profile, (servers) => compareDeflate(servers, config.deflate, log));
  }
  if (config.only.has('metrics')) {
    log('small messages, metrics off and on');
    into.metrics = await withServers([RXJS_WS, RXJS_WS_METRICS], profile, (servers) => compareEcho(client, servers, config.metrics, log));
  }
  if (config.only.has('resume')) {
    log('small messages, resumable sessions off and on');
    into.resume = await withServers([RXJS_WS, RXJS_WS_RESUME], profile, (servers) => compareResume(servers, config.resume, log));
  }
  if (config.only.has('fanout')) {
    log(`fan-out: one ${config.fanout.size} B message to ${config.fanout.sockets} sockets`);
    into.fanout = await withServers([RAW, RXJS_WS_HUB], profile, (servers) => compareFanout(client, servers, config.fanout, log));
  }
  if (config.only.has('idle')) {
    const variants: ServerSpec[] = [
      RAW,
      RXJS_WS,
      { kind: 'rxjs-ws', label: 'rxjs-ws heartbeat off', args: ['--heartbeat=off'] },
      { kind: 'rxjs-ws', label: `rxjs-ws heartbeat ${config.idle.shortIntervalMs} ms`, args: [`--heartbeat=${config.idle.shortIntervalMs}`] },
    ];
    const idle: IdleVariant[] = (into.idle = []);
    for (const spec of variants) {
      log(`idle: ${spec.label}`);
      idle.push(await measureIdle(client, spec, config.idle, profile, log));
    }
  }
}

async function main(): Promise<void> {
  const config = parseArgs(process.argv.slice(2), RESULTS_DIR);
  const started = performance.now();
  const date = new Date().toISOString();
  const args = process.argv.slice(2).join(' ');
  const command = process.env.npm_lifecycle_event === 'bench' ? `npm run bench${args ? ` -- ${args}` : ''}` : `node ${process.argv.slice(1).join(' ')}`;
  const profile = config.cpuProf.length > 0 ? { kinds: config.cpuProf, dir: join(config.resultsDir, 'profiles', date.replace(/[:.]/g, '-')) } : undefined;
  const measured = { command, revision: revision(ROOT), date, machine: machine(), clientThreads: config.clientThreads };
  const collected: Collected = {};
  const failures: string[] = [];
  const client = await LoadClient.start(config.clientThreads);
  try {
    await runScenarios(config, client, profile, collected);
  } catch (err) {
    failures.push(err instanceof IntegrityError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err));
  } finally {
    await client.stop();
  }
  const unjudged = { ...measured, durationMs: performance.now() - started, ...collected, failures };
  const results: BenchResults = { ...unjudged, verdicts: judge(unjudged) };
  const file = writeResults(config.resultsDir, results);
  process.stdout.write(`${formatResults(results)}\n\nResults: ${file}\n`);
  if (profile !== undefined) {
    for (const name of readdirSync(profile.dir).filter((f) => f.endsWith('.cpuprofile'))) {
      process.stdout.write(`\n${formatProfile(summarizeProfile(join(profile.dir, name)))}\n`);
    }
  }
  try {
    process.stdout.write(`\n${await bundleSizeReport()}\n`);
  } catch (err) {
    const message = `browser bundle: ${err instanceof Error ? err.message : String(err)}`;
    log(message);
    failures.push(message);
  }
  if (failures.length > 0) {
    log(`\nBENCH FAILED: ${failures.length} integrity failure(s) or crash(es); see above.`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  log(`bench crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
