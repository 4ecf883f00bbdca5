import type { Connection } from '../../bench/client/connection';
import { FanoutRun } from '../../bench/client/fanout';
import { Opcode } from '../../bench/client/frames';
import { fanoutText } from '../../bench/client/payload';
import { formatResults, judge } from '../../bench/report';
import type { FanoutSample } from '../../bench/results';

const SIZE = 64;
const message = (seq: number) => Buffer.from(fanoutText(seq, SIZE), 'latin1');

function clients(n: number): Map<number, Connection> {
  return new Map(Array.from({ length: n }, (_, id) => [id, { id } as Connection]));
}

describe('the fan-out receiver of the bench client', () => {
  it('answers once every connection has the message, counting those that came before it was asked', async () => {
    const held = clients(3);
    const violations: string[] = [];
    const run = new FanoutRun(held, 7, SIZE, (why) => violations.push(why));
    run.message(held.get(0)!, Opcode.TEXT, message(7));
    run.message(held.get(1)!, Opcode.TEXT, message(7));
    let done = false;
    const waited = run.wait(7, 1000).then((report) => ((done = true), report));
    await Promise.resolve();
    expect(done).toBe(false);
    run.message(held.get(2)!, Opcode.TEXT, message(7));
    const report = await waited;
    expect(report.deliveries).toBe(3);
    expect(typeof report.last).toBe('bigint');
    // Already complete: answers at once.
    await expect(run.wait(7, 1000)).resolves.toEqual(report);
    expect(violations).toEqual([]);
  });

  it('reports a message out of order, duplicated, corrupted or of the wrong kind, and does not count it', async () => {
    const held = clients(1);
    const violations: string[] = [];
    const run = new FanoutRun(held, 0, SIZE, (why) => violations.push(why));
    run.message(held.get(0)!, Opcode.TEXT, message(1)); // 0 was lost
    run.message(held.get(0)!, Opcode.TEXT, message(1)); // duplicated
    const corrupted = message(2);
    corrupted[SIZE - 1] = 0x21;
    run.message(held.get(0)!, Opcode.TEXT, corrupted);
    run.message(held.get(0)!, Opcode.BINARY, message(3));
    expect(violations).toHaveLength(4);
    expect(violations[0]).toContain('expected fan-out message 0');
    await expect(run.wait(3, 20)).rejects.toThrow('0 of 1 connections got it within 20 ms');
  });
});

describe('the fan-out report', () => {
  const sample = (toLastMs: number): FanoutSample => ({
    toLastMs,
    deliveriesPerSecond: 10_000_000 / toLastMs,
    loopMs: 1,
    handedMs: toLastMs,
    serverUserMs: 1,
    serverSystemMs: 1,
    otherCpu: 0,
  });
  const results = (raw: number, rx: number) => {
    const fanout = {
      sockets: 10_000,
      size: SIZE,
      rounds: 1,
      blocks: 1,
      samples: { 'raw ws': [sample(raw)], 'rxjs-ws': [sample(rx)] },
      medians: { 'raw ws': sample(raw), 'rxjs-ws': sample(rx) },
    };
    const machine = { cpus: 2, model: 'x', memoryBytes: 2 ** 30, platform: 'linux x64', node: 'v20', ws: '8', rxjs: '7', loadAverage: [0, 0, 0] };
    const unjudged = { command: 'bench', revision: 'abc', date: '2026-12-01T20:00:00.000Z', machine, clientThreads: 1, durationMs: 1000, fanout, failures: [] };
    return { ...unjudged, verdicts: judge(unjudged) };
  };

  it('judges rxjs-ws time to the last delivery against raw ws at 0.5 or less, and prints it with the other scenarios', () => {
    expect(results(100, 50).verdicts).toEqual([{ name: 'fan-out: time to the last delivery', ratio: 0.5, op: '<=', target: 0.5, pass: true }]);
    const missed = results(100, 90);
    expect(missed.verdicts[0]!.pass).toBe(false);
    const text = formatResults(missed);
    expect(text).toMatch(/fanout: 1 × 64 B text to 10,000 sockets.*\| time to the last delivery\s+\|\s+100\.00 ms \|\s+90\.00 ms \|\s+0\.90× \| ≤ 0\.50 \| FAIL/);
  });
});
