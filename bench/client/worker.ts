/**
 * A load-client worker thread: holds its share of the connections and runs
 * the commands of protocol.ts on them. Integrity violations are collected
 * and returned with every reply; the main thread fails the bench on any.
 */
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import { Connection, type ConnectionEvents } from './connection';
import { EchoRun } from './echo';
import { FanoutRun } from './fanout';
import type { Command, EchoReport, FanoutReport, HeldReport, Reply, TimedReport } from './protocol';

const MAX_VIOLATIONS = 20;

const held = new Map<number, Connection>();
let violations: string[] = [];
let violationCount = 0;
let echo: EchoRun | null = null;
let fanout: FanoutRun | null = null;

function violation(why: string): void {
  violationCount++;
  if (violations.length < MAX_VIOLATIONS) violations.push(why);
}

const events: ConnectionEvents = {
  message: (connection, opcode, payload) => {
    if (echo !== null) echo.message(connection, opcode, payload);
    else if (fanout !== null) fanout.message(connection, opcode, payload);
    else violation(`connection ${connection.id}: unexpected message (${payload.length} B, opcode ${opcode}) while idle`);
  },
  lost: (connection, why) => {
    if (held.get(connection.id) === connection) held.delete(connection.id);
    violation(`connection ${connection.id}: ${why}`);
  },
};

async function run(command: Command): Promise<EchoReport | TimedReport | HeldReport | FanoutReport | undefined> {
  switch (command.type) {
    case 'connect': {
      const started = performance.now();
      await lanes(command.count, command.parallel, async (i) => {
        const connection = await Connection.open(command.port, command.firstId + i, events);
        held.set(connection.id, connection);
      });
      return { count: command.count, ms: performance.now() - started };
    }
    case 'echo': {
      echo = new EchoRun(held.values(), command, violation);
      try {
        return await echo.run();
      } finally {
        echo = null;
      }
    }
    case 'handshakes': {
      const started = performance.now();
      await lanes(command.count, command.parallel, async (i) => {
        const connection = await Connection.open(command.port, i, events);
        await connection.close();
      });
      return { count: command.count, ms: performance.now() - started };
    }
    case 'fanout-start': {
      fanout = new FanoutRun(held, command.firstSeq, command.size, violation);
      return undefined;
    }
    case 'fanout-wait': {
      if (fanout === null) throw new Error('fanout-wait before fanout-start');
      return fanout.wait(command.seq, command.timeoutMs);
    }
    case 'close': {
      const all = [...held.values()];
      held.clear();
      fanout = null;
      if (command.destroy) all.forEach((c) => c.destroy());
      else await lanes(all.length, 256, (i) => all[i]!.close());
      return undefined;
    }
    case 'stats': {
      let pings = 0;
      for (const connection of held.values()) pings += connection.pings;
      return { connections: held.size, pings };
    }
  }
}

/** Runs `task(0 … count-1)` with at most `parallel` at a time. */
async function lanes(count: number, parallel: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, lane));
}

const port = parentPort;
if (port === null) throw new Error('bench/client/worker.ts runs as a worker thread');
port.on('message', (command: Command) => {
  const reply = (r: Omit<Reply<unknown>, 'violations'>) => {
    const seen = violations;
    if (violationCount > seen.length) seen.push(`… and ${violationCount - seen.length} more`);
    violations = [];
    violationCount = 0;
    const latencies = (r.result as EchoReport | undefined)?.latencies;
    port.postMessage({ ...r, violations: seen }, latencies ? [latencies.buffer as ArrayBuffer] : []);
  };
  run(command).then(
    (result) => reply({ ok: true, result }),
    (err: Error) => reply({ ok: false, error: err.stack ?? String(err) }),
  );
});
