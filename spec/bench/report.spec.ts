import { formatResults, judge } from '../../bench/report';
import type { EchoMedians, EchoScenario } from '../../bench/results';

describe('the echo report', () => {
  const medians = (rate: number, p99: number, serverCpu: number): EchoMedians => ({ rate, p50: p99 / 2, p90: p99 / 1.5, p99, serverCpu, clientCpu: 90, otherCpu: 1 });
  const scenario = (size: number, raw: EchoMedians, rx: EchoMedians): EchoScenario => ({
    connections: 50,
    window: 8,
    size,
    binary: size > 1024,
    rounds: 1,
    durationMs: 5000,
    samples: { 'raw ws': [], 'rxjs-ws': [] },
    medians: { 'raw ws': raw, 'rxjs-ws': rx },
  });
  const results = (small: EchoScenario, large: EchoScenario) => {
    const machine = { cpus: 2, model: 'x', memoryBytes: 2 ** 30, platform: 'linux x64', node: 'v20', ws: '8', rxjs: '7', loadAverage: [0, 0, 0] };
    const unjudged = { command: 'bench', revision: 'abc', date: '2026-12-01T20:00:00.000Z', machine, clientThreads: 1, durationMs: 1000, small, large, failures: [] };
    return { ...unjudged, verdicts: judge(unjudged) };
  };
  // Raw ws: 97 % of a core for 70,000 echoes/s is 13.9 µs an echo; rxjs-ws: 96 % for 170,000 is 5.6 µs.
  const r = results(
    scenario(64, medians(70_000, 10, 97), medians(170_000, 5, 96)),
    scenario(2 ** 20, medians(400, 50, 100), medians(380, 45, 100)),
  );

  it('judges server CPU per small echo (percent of a core over echoes per second) at 0.55 of raw ws or less', () => {
    const verdict = r.verdicts.find((v) => v.name === 'small-message server CPU per echo')!;
    expect(verdict.ratio).toBeCloseTo((96 / 170_000) / (97 / 70_000), 12);
    expect(verdict).toMatchObject({ op: '<=', target: 0.55, pass: true });
  });

  it('judges large throughput at 1.0 and large p99 at 1.0, handshakes absent', () => {
    expect(r.verdicts.map((v) => [v.name, v.op, v.target, v.pass])).toEqual([
      ['small-message echo throughput', '>=', 1.3, true],
      ['small-message p99 latency', '<=', 1, true],
      ['small-message server CPU per echo', '<=', 0.55, true],
      ['large-message echo throughput', '>=', 1, false],
      ['large-message p99 latency', '<=', 1, true],
    ]);
  });

  it('prints CPU per echo in µs and each verdict in its own columns', () => {
    const text = formatResults(r);
    expect(text).toMatch(/\| server CPU per echo\s+\|\s+13\.9 µs \|\s+5\.6 µs \|\s+0\.41× \| ≤ 0\.55 \| PASS\s+\|/);
    expect(text).toMatch(/\| p99 latency\s+\|\s+50\.00 ms \|\s+45\.00 ms \|\s+0\.90× \| ≤ 1\.00 \| PASS\s+\|/);
    const rows = text.split('\n').filter((line) => line.startsWith('|'));
    expect(rows.length).toBeGreaterThan(8);
    // Seven columns in every row, aligned: the same width for all.
    expect(new Set(rows.map((line) => line.split('|').length))).toEqual(new Set([9]));
    expect(new Set(rows.map((line) => line.length))).toEqual(new Set([rows[0]!.length]));
  });
});
