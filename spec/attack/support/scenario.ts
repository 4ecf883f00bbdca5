/**
 * What every echo scenario shares: the built echo example in its own process
 * with its default options (`--port 0` only), the probe connected to it, an
 * RSS sampler that stops the attack once its bound is broken, and the
 * clean-up of all of them whatever happened.
 */
import { performance } from 'node:perf_hooks';
import { startEcho, type EchoProcess } from '../../e2e/echo-process';
import { releaseAll } from './attacker';
import { alive, cpuMs, mib, ms, rss, RssSampler, sleep, tally } from './measure';
import { Probe, type ProbeFigures } from './probe';

export interface Arena {
  readonly echo: EchoProcess;
  readonly probe: Probe;
}

/** The arenas of the running test, released by `closeArenas()` (call it in afterEach). */
const arenas = new Set<Arena>();

/** Starts the echo example (no flags but `--port 0`) and the probe, and lets the probe run a moment. */
export async function openArena(): Promise<Arena> {
  const echo = await startEcho();
  let probe: Probe;
  try {
    probe = await Probe.open(echo.wsUrl);
  } catch (err) {
    await echo.stop();
    throw err;
  }
  const arena = { echo, probe };
  arenas.add(arena);
  await sleep(300);
  return arena;
}

/** Releases every attacker, the probe and the echo process; resolves with the exit codes. */
export async function closeArenas(): Promise<(number | null)[]> {
  await releaseAll();
  const all = [...arenas];
  arenas.clear();
  return Promise.all(
    all.map(async ({ echo, probe }) => {
      await probe.close();
      return echo.stop();
    }),
  );
}

/** What one attack on an arena measured. */
export interface Measured {
  readonly rssBefore: number;
  readonly rssPeak: number;
  /** RSS a while after the attackers were gone. */
  readonly rssAfter: number;
  /** The sampler stopped the attack because the RSS grew past its bound. */
  readonly aborted: boolean;
  readonly ms: number;
  /** Server CPU time spent during the attack, in ms. */
  readonly cpuMs: number;
  readonly probe: ProbeFigures;
  /** The server still runs and echoes the probe afterwards. */
  readonly up: boolean;
}

/**
 * Runs `attack` against the arena with an RSS sampler that calls `abort`
 * (stop attacking) once the growth passes `rssBound`, then measures the
 * probe over the attack, waits `afterMs` with the attackers gone, and checks
 * the server still answers.
 */
export async function measure(
  { echo, probe }: Arena,
  rssBound: number,
  attack: (abort: { readonly signal: AbortSignal }) => Promise<void>,
  release: () => Promise<void> = releaseAll,
  afterMs = 1500,
): Promise<Measured> {
  const controller = new AbortController();
  const sampler = new RssSampler(echo.pid, rssBound, () => controller.abort());
  const from = probe.startWindow();
  const cpu0 = cpuMs(echo.pid);
  const started = performance.now();
  try {
    await attack({ signal: controller.signal });
  } finally {
    sampler.stop();
  }
  const took = performance.now() - started;
  const to = probe.mark;
  const cpu = alive(echo.pid) ? cpuMs(echo.pid) - cpu0 : NaN;
  await release();
  const figures = await probe.figures(from, to);
  await sleep(afterMs);
  let up = alive(echo.pid);
  if (up) up = await probe.roundTrip().then(() => true, () => false);
  return {
    rssBefore: sampler.before,
    rssPeak: sampler.peak,
    rssAfter: alive(echo.pid) ? rss(echo.pid) : NaN,
    aborted: sampler.tripped,
    ms: took,
    cpuMs: cpu,
    probe: figures,
    up,
  };
}

/** The figures every summary line has, in the same order. */
export function figuresOf(m: Measured, outcomes: readonly string[]): Record<string, string> {
  return {
    rss: `${mib(m.rssBefore)} -> peak ${mib(m.rssPeak)} (+${mib(m.rssPeak - m.rssBefore)})${m.aborted ? ' ABORTED at the bound' : ''} -> after ${mib(m.rssAfter)}`,
    probe: `p50 ${ms(m.probe.p50)} p99 ${ms(m.probe.p99)} max ${ms(m.probe.max)} (${m.probe.echoed}/${m.probe.sent} echoed; probe-side lag p99 ${ms(m.probe.ownLagP99)})`,
    'server cpu': `${(m.cpuMs / 1000).toFixed(1)} s in ${(m.ms / 1000).toFixed(1)} s`,
    got: tally(outcomes),
    'server up': String(m.up),
  };
}
