/** The bench's output: the machine, the verdicts against the targets, the table on stdout, the JSON file. */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BenchResults, DeflateEcho, EchoScenario, IdleVariant, Machine, ResumeEcho, Verdict } from './results';
import { RAW, RXJS_WS, RXJS_WS_UNBATCHED } from './server-process';

export function machine(): Machine {
  const version = (name: string) => (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model.trim() ?? 'unknown',
    memoryBytes: totalmem(),
    platform: `${platform()} ${arch()}`,
    node: process.version,
    ws: version('ws'),
    rxjs: version('rxjs'),
    loadAverage: loadavg().map((n) => Math.round(n * 100) / 100),
  };
}

/** The git commit of the checkout at `root`, `+dirty` when its src/ has uncommitted changes; `unknown` outside git. */
export function revision(root: string): string {
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'src') === '' ? '' : '+dirty'}`;
  } catch {
    return 'unknown';
  }
}

export function describeMachine(m: Machine): string {
  return `${m.cpus} × ${m.model}, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB, ${m.platform}, Node ${m.node}, ws ${m.ws}, rxjs ${m.rxjs}`;
}

type Unjudged = Omit<BenchResults, 'verdicts'>;

/** The benchmark's targets, as ratios rxjs-ws / raw ws measured in the same run. */
export function judge(r: Unjudged): Verdict[] {
  const verdicts: Verdict[] = [];
  const add = (name: string, ratio: number | undefined, op: Verdict['op'], target: number) => {
    if (ratio === undefined || !Number.isFinite(ratio)) return;
    verdicts.push({ name, ratio, op, target, pass: op === '>=' ? ratio >= target : ratio <= target });
  };
  add('small-message echo throughput', echoRatio(r.small, (m) => m.rate), '>=', 1.3);
  add('small-message p99 latency', echoRatio(r.small, (m) => m.p99), '<=', 1.0);
  add('small-message server CPU per echo', echoRatio(r.small, cpuPerEcho), '<=', 0.55);
  add('large-message echo throughput', echoRatio(r.large, (m) => m.rate), '>=', 1.0);
  add('large-message p99 latency', echoRatio(r.large, (m) => m.p99), '<=', 1.0);
  if (r.handshakes) add('handshakes per second', r.handshakes.pairedRatio, '>=', 1.05);
  const raw = idle(r.idle, RAW.label)?.levels.at(-1);
  const rx = idle(r.idle, RXJS_WS.label)?.levels.at(-1);
  const d = r.deflate?.medians;
  if (d?.['rxjs-ws deflate'] && d['raw ws deflate']) add('JSON echo throughput with deflate', d['rxjs-ws deflate'].rate / d['raw ws deflate'].rate, '>=', 1.0);
  const m = r.metrics?.medians;
  if (m?.['rxjs-ws metrics'] && m['rxjs-ws']) add('echo throughput with metrics on', m['rxjs-ws metrics'].rate / m['rxjs-ws'].rate, '>=', 0.97);
  const s = r.resume?.medians;
  if (s?.['rxjs-ws resume'] && s['rxjs-ws']) add('echo throughput with resume on', s['rxjs-ws resume'].rate / s['rxjs-ws'].rate, '>=', 0.8);
  if (raw && rx) add(`memory per idle connection at ${rx.connections} (heartbeat on)`, rx.rssPerConnection / raw.rssPerConnection, '<=', 1.1);
  const [fRaw, fRx] = [r.fanout?.medians[RAW.label], r.fanout?.medians[RXJS_WS.label]];
  if (fRaw && fRx) add(FANOUT_VERDICT, fRx.toLastMs / fRaw.toLastMs, '<=', 0.5);
  return verdicts;
}

const FANOUT_VERDICT = 'fan-out: time to the last delivery';

/** The results as Markdown tables (readable as text, pasteable into docs/performance.md). */
export function formatResults(r: BenchResults): string {
  const out: string[] = [
    `rxjs-ws bench, ${r.date}: \`${r.command}\` (${(r.durationMs / 1000).toFixed(0)} s), rxjs-ws ${r.revision}`,
    `Machine: ${describeMachine(r.machine)}; load average ${r.machine.loadAverage.join(' ')} at the start; load client: ${r.clientThreads} worker thread${r.clientThreads === 1 ? '' : 's'}`,
    '',
  ];
  const rows: string[][] = [];
  const verdict = (name: string) => {
    const v = r.verdicts.find((x) => x.name === name);
    return v ? [`${v.op === '>=' ? '≥' : '≤'} ${v.target.toFixed(2)}`, v.pass ? 'PASS' : 'FAIL'] : ['', ''];
  };
  if (r.small) {
    const s = r.small;
    const title = `small: ${s.connections} conns × ${s.window} in flight × ${s.size} B text (median of ${s.rounds} × ${s.durationMs / 1000} s)`;
    rows.push([title, 'echoes/s', ...pair(s, (m) => m.rate, int), ...verdict('small-message echo throughput')]);
    rows.push(['', 'p99 latency', ...pair(s, (m) => m.p99, ms), ...verdict('small-message p99 latency')]);
    rows.push(['', 'p50 / p90 latency', ...both(s, (m) => `${ms(m.p50)} / ${ms(m.p90)}`), '', '', '']);
    rows.push(['', 'server CPU per echo', ...pair(s, cpuPerEcho, (n) => `${n.toFixed(1)} µs`), ...verdict('small-message server CPU per echo')]);
    const unbatched = s.medians[RXJS_WS_UNBATCHED.label];
    if (unbatched !== undefined) {
      const raw = s.medians[RAW.label]!;
      rows.push(['', `echoes/s, ${RXJS_WS_UNBATCHED.label}`, '', int(unbatched.rate), ratio(unbatched.rate / raw.rate), '', '']);
      rows.push(['', `p99 latency, ${RXJS_WS_UNBATCHED.label}`, '', ms(unbatched.p99), ratio(unbatched.p99 / raw.p99), '', '']);
    }
    rows.push(['', 'CPU: server / client / other', ...both(s, (m) => `${pct(m.serverCpu)} / ${pct(m.clientCpu)} / ${pct(m.otherCpu)}`), '', '', '']);
  }
  if (r.large) {
    const s = r.large;
    const title = `large: ${s.connections} conns × ${s.size / 2 ** 20} MiB binary, window ${s.window} (median of ${s.rounds} × ${s.durationMs / 1000} s)`;
    rows.push([title, 'MiB/s echoed', ...pair(s, (m) => (m.rate * s.size) / 2 ** 20, int), ...verdict('large-message echo throughput')]);
    rows.push(['', 'p99 latency', ...pair(s, (m) => m.p99, ms), ...verdict('large-message p99 latency')]);
  }
  if (r.handshakes) {
    const h = r.handshakes;
    const [raw, rx] = [h.medians[RAW.label]!, h.medians[RXJS_WS.label]!];
    const title = `handshakes: ${h.connections} opened and closed, ${h.parallel} in parallel (median of ${h.rounds})`;
    rows.push([title, 'opens/s (ratio: median of paired rounds)', int(raw.rate), int(rx.rate), ratio(h.pairedRatio), ...verdict('handshakes per second')]);
    const perConnection = (n: number) => `${n.toFixed(0)} µs`;
    rows.push(['', 'server CPU per connection', perConnection(raw.cpuMicrosPerConnection), perConnection(rx.cpuMicrosPerConnection), ratio(rx.cpuMicrosPerConnection / raw.cpuMicrosPerConnection), '', '']);
    rows.push(['', 'server CPU', pct(raw.serverCpu), pct(rx.serverCpu), '', '', '']);
  }
  const raw = idle(r.idle, RAW.label);
  const rx = idle(r.idle, RXJS_WS.label);
  if (raw && rx) {
    raw.levels.forEach((level, i) => {
      const other = rx.levels[i]!;
      const last = i === raw.levels.length - 1;
      const v = last ? verdict(`memory per idle connection at ${level.connections} (heartbeat on)`) : ['', ''];
      rows.push([i === 0 ? 'idle: RSS per connection after GC, heartbeat on (default)' : '', `at ${level.connections.toLocaleString('en-US')}`, kb(level.rssPerConnection), kb(other.rssPerConnection), ratio(other.rssPerConnection / level.rssPerConnection), ...v]);
    });
    const [a, b] = [raw.levels.at(-1)!, rx.levels.at(-1)!];
    rows.push(['', `heap at ${a.connections.toLocaleString('en-US')}`, kb(a.heapPerConnection), kb(b.heapPerConnection), ratio(b.heapPerConnection / a.heapPerConnection), '', '']);
  }
  for (const [i, s] of (r.scaling ?? []).entries()) {
    const title = i === 0 ? `scaling: window ${s.window} × ${s.size} B (median of ${s.rounds} × ${s.durationMs / 1000} s)` : '';
    rows.push([title, `echoes/s at ${s.connections.toLocaleString('en-US')} conns`, ...pair(s, (m) => m.rate, int), '', '']);
  }
  if (r.fanout) {
    const f = r.fanout;
    const [raw, rx] = [f.medians[RAW.label]!, f.medians[RXJS_WS.label]!];
    const title = `fanout: 1 × ${f.size} B text to ${f.sockets.toLocaleString('en-US')} sockets, ws.send loop / hub.publish (median of ${f.rounds})`;
    const row = (metric: string, pick: (s: typeof raw) => number, format: (n: number) => string, v = ['', '']) => [metric, format(pick(raw)), format(pick(rx)), ratio(pick(rx) / pick(raw)), ...v];
    rows.push([title, ...row('time to the last delivery', (s) => s.toLastMs, ms, verdict(FANOUT_VERDICT))]);
    rows.push(['', ...row('deliveries/s', (s) => s.deliveriesPerSecond, int)]);
    rows.push(['', ...row('server: send loop', (s) => s.loopMs, ms)]);
    rows.push(['', ...row('server: writes done (next setImmediate)', (s) => s.handedMs, ms)]);
    rows.push(['', ...row('server CPU: user', (s) => s.serverUserMs, ms)]);
    rows.push(['', ...row('server CPU: system (the writes)', (s) => s.serverSystemMs, ms)]);
    rows.push(['', 'other CPU (softirq included)', pct(raw.otherCpu), pct(rx.otherCpu), '', '', '']);
  }
  out.push(table(['scenario', 'metric', RAW.label, RXJS_WS.label, 'rxjs-ws/raw', 'target', 'verdict'], rows, 'llrrrll'));
  if (r.deflate) out.push('', deflateTable(r.deflate, verdict('JSON echo throughput with deflate')));
  if (r.metrics) out.push('', metricsTable(r.metrics, verdict('echo throughput with metrics on')));
  if (r.resume) out.push('', resumeTable(r.resume, verdict('echo throughput with resume on')));
  if (r.idle && r.idle.length > 0) out.push('', heartbeatTable(r.idle));
  const busy = busiest(r);
  if (busy > OTHER_CPU_WARNING) {
    out.push('', `WARNING: other processes used up to ${busy.toFixed(0)} % of a core during the measurements; the figures are not reliable.`);
  }
  if (r.failures.length > 0) out.push('', `FAILED (${r.failures.length}):`, ...r.failures.map((f) => `  ${f}`));
  return out.join('\n');
}

/** The small-message echo with metrics off and on: echoes/s, p99 and server CPU, medians. */
function metricsTable(s: EchoScenario, verdict: string[]): string {
  const off = s.medians['rxjs-ws']!;
  const on = s.medians['rxjs-ws metrics']!;
  const title = `metrics: ${s.connections} conns × ${s.window} in flight × ${s.size} B text, metrics$ every 1 s and a scrape every 1 s (median of ${s.rounds} × ${s.durationMs / 1000} s)`;
  const rows = [
    ['echoes/s', int(off.rate), int(on.rate), ratio(on.rate / off.rate), ...verdict],
    ['p99 latency', ms(off.p99), ms(on.p99), ratio(on.p99 / off.p99), '', ''],
  ];
  return `${title}\n\n${table(['metric', 'metrics off', 'metrics on', 'on/off', 'target', 'verdict'], rows, 'lrrrll')}`;
}

/** The JSON echo with and without deflate: one row per setting, raw ws and rxjs-ws side by side. */
function deflateTable(d: DeflateEcho, verdict: string[]): string {
  const rows = (['', ' deflate'] as const).map((suffix) => {
    const [raw, rx] = [d.medians[`raw ws${suffix}`]!, d.medians[`rxjs-ws${suffix}`]!];
    const label = suffix === '' ? 'off' : 'on (ws defaults)';
    return [
      label,
      `${int(raw.rate)} / ${int(rx.rate)}`,
      ratio(rx.rate / raw.rate),
      `${raw.serverCpuMicros.toFixed(1)} / ${rx.serverCpuMicros.toFixed(1)} µs`,
      `${int(raw.wireBytes)} / ${int(rx.wireBytes)} B`,
      ...(suffix === '' ? ['', ''] : verdict),
    ];
  });
  const title = `JSON echo: ${d.connections} ws clients × ${d.window} in flight × ${d.size} B JSON (median of ${d.rounds} × ${d.durationMs / 1000} s); raw ws / rxjs-ws`;
  return `${title}\n\n${table(['deflate', 'echoes/s', 'rxjs-ws/raw', 'server CPU per echo', 'bytes on the wire per echo', 'target', 'verdict'], rows, 'lrrrrll')}`;
}

/** The echo with resumable sessions off and on: echoes/s, server CPU and bytes on the wire per echo, medians. */
function resumeTable(d: ResumeEcho, verdict: string[]): string {
  const [off, on] = [d.medians['rxjs-ws']!, d.medians['rxjs-ws resume']!];
  const rows = [
    ['echoes/s', int(off.rate), int(on.rate), ratio(on.rate / off.rate), ...verdict],
    ['server CPU per echo', `${off.serverCpuMicros.toFixed(1)} µs`, `${on.serverCpuMicros.toFixed(1)} µs`, ratio(on.serverCpuMicros / off.serverCpuMicros), '', ''],
    ['bytes on the wire per echo', off.wireBytes.toFixed(1), on.wireBytes.toFixed(1), ratio(on.wireBytes / off.wireBytes), '', ''],
  ];
  const title = `resume: ${d.connections} rxjs-ws clients × ${d.window} in flight × ${d.size} B text, resume off / on on both sides (median of ${d.rounds} × ${d.durationMs / 1000} s)`;
  return `${title}\n\n${table(['metric', 'resume off', 'resume on', 'on/off', 'target', 'verdict'], rows, 'lrrrll')}`;
}

/** CPU (% of a core) that other processes may use during a run before the bench warns. */
const OTHER_CPU_WARNING = 15;

function busiest(r: BenchResults): number {
  const scenarios = [r.small, r.large, ...(r.scaling ?? []), r.fanout].filter((s) => s !== undefined);
  const others = scenarios.flatMap((s) => Object.values(s.medians).map((m) => m.otherCpu));
  return Math.max(0, ...others.filter(Number.isFinite));
}

function heartbeatTable(variants: readonly IdleVariant[]): string {
  const rows = variants.map((v) => {
    const last = v.levels.at(-1)!;
    return [v.label, last.connections.toLocaleString('en-US'), kb(last.rssPerConnection), kb(last.heapPerConnection), `${v.idleCpu.toFixed(2)} %`, `${v.pings.toLocaleString('en-US')} in ${(v.idleCpuMs / 1000).toFixed(1)} s`];
  });
  return table(['idle server', 'sockets', 'RSS/conn', 'heap/conn', 'idle CPU', 'pings seen'], rows, 'lrrrrr');
}

/** Writes the results to `dir`/latest.json and a dated copy; returns the path of latest.json. */
export function writeResults(dir: string, results: BenchResults): string {
  mkdirSync(dir, { recursive: true });
  const text = `${JSON.stringify(results, null, 2)}\n`;
  writeFileSync(join(dir, `bench-${results.date.replace(/[:.]/g, '-')}.json`), text);
  writeFileSync(join(dir, 'latest.json'), text);
  return join(dir, 'latest.json');
}

/** Server CPU per echo, µs: the server's share of a core (percent) over echoes per second. */
function cpuPerEcho(m: EchoScenario['medians'][string]): number {
  return (m.serverCpu * 10_000) / m.rate;
}

function echoRatio(s: EchoScenario | undefined, pick: (m: EchoScenario['medians'][string]) => number): number | undefined {
  const raw = s?.medians[RAW.label];
  const rx = s?.medians[RXJS_WS.label];
  return raw && rx ? pick(rx) / pick(raw) : undefined;
}

function pair(s: EchoScenario, pick: (m: EchoScenario['medians'][string]) => number, format: (n: number) => string): string[] {
  const [raw, rx] = [pick(s.medians[RAW.label]!), pick(s.medians[RXJS_WS.label]!)];
  return [format(raw), format(rx), ratio(rx / raw)];
}

function both(s: EchoScenario, format: (m: EchoScenario['medians'][string]) => string): string[] {
  return [format(s.medians[RAW.label]!), format(s.medians[RXJS_WS.label]!)];
}

function idle(variants: readonly IdleVariant[] | undefined, label: string): IdleVariant | undefined {
  return variants?.find((v) => v.label === label);
}

function table(header: readonly string[], rows: readonly string[][], align: string): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => `${n.toFixed(2)} ms`;
const pct = (n: number) => `${n.toFixed(0)} %`;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const ratio = (n: number) => `${n.toFixed(2)}×`;
