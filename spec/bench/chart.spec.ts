import { chart } from '../../bench/chart';

const level = (connections: number, kib: number) => ({ connections, rss: 0, heapUsed: 0, rssPerConnection: kib * 1024, heapPerConnection: 0 });
const idle = (label: string, kibs: number[]) => ({
  label,
  baseline: { rss: 0, heapUsed: 0 },
  levels: kibs.map((kib, i) => level([1000, 10_000, 100_000][i]!, kib)),
  idleCpu: 0,
  idleCpuMs: 0,
  pings: 0,
});

describe('the bench chart', () => {
  const results = {
    date: '2026-12-01T20:00:00.000Z',
    revision: 'abc1234',
    verdicts: [
      { name: 'small-message echo throughput', ratio: 2.1, op: '>=' as const, target: 1.3, pass: true },
      { name: 'handshakes per second', ratio: 0.9, op: '>=' as const, target: 1.05, pass: false },
    ],
    idle: [idle('raw ws', [6.6, 6.6, 6.5]), idle('rxjs-ws', [8.0, 7.9, 7.8])],
  };

  it('draws a bar per target, green where it holds and red where it does not, with its ratio', () => {
    const svg = chart(results);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('small-message echo throughput');
    expect(svg).toContain('2.10× (≥ 1.3)');
    expect(svg).toContain('0.90× (≥ 1.05)');
    const bars = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="16" fill="(#\w+)"/g)];
    expect(bars.map((m) => m[2])).toEqual(['#66a182', '#d1495b']);
    // Bars are drawn to scale: 2.1 against 0.9.
    expect(Number(bars[0]![1]) / Number(bars[1]![1])).toBeCloseTo(2.1 / 0.9, 1);
  });

  it('draws one line per server through every idle level, and escapes text', () => {
    const svg = chart({ ...results, revision: 'abc<dirty>' });
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg.match(/<circle /g)).toHaveLength(6);
    expect(svg).toContain('100,000');
    expect(svg).toContain('abc&lt;dirty&gt;');
    expect(svg).not.toContain('abc<dirty>');
  });

  it('says when nothing was measured', () => {
    expect(chart({ ...results, verdicts: [], idle: [] })).toContain('no targets measured');
  });
});
