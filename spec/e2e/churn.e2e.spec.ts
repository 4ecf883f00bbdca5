/**
 * Churn, end to end: 1,000 connect/echo/close cycles, half closed
 * cleanly (1000) and half terminated, against an rxjs-ws echo server in its own
 * process (dist/bench/churn.js --serve, with --expose-gc), which is then asked
 * for its handles, listeners and RSS after GC. The full-size run (10,000
 * cycles) is `node dist/bench/churn.js`.
 */
import { existsSync } from 'node:fs';
import { CHURN_JS, churn, compare, settled, startChurnServer, type ChurnServer } from '../../bench/churn';

const CYCLES = 1000;
const WARMUP = 200;
const MB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

describe('churn (e2e)', () => {
  let server: ChurnServer | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it(`${CYCLES} connect/close cycles (half clean, half terminated) leave no handle, listener or RSS behind`, async () => {
    if (!existsSync(CHURN_JS)) throw new Error(`${CHURN_JS} is missing: run \`npm run build\` (npm run test:e2e does)`);
    server = await startChurnServer();
    await churn(server.url, WARMUP);
    const before = await settled(server);
    const started = performance.now();
    await churn(server.url, CYCLES);
    const took = performance.now() - started;
    const after = await settled(server);
    const d = compare(before, after);
    process.stdout.write(
      `churn e2e: ${CYCLES} cycles in ${took.toFixed(0)} ms; handles ${JSON.stringify(before.handles)} -> ${JSON.stringify(after.handles)}; ` +
        `RSS after GC ${MB(before.rss)} -> ${MB(after.rss)} (${((d.rssRatio - 1) * 100).toFixed(1)} %); heap ${MB(before.heapUsed)} -> ${MB(after.heapUsed)}\n`,
    );
    expect(after.sockets).toBe(0);
    expect(after.accepted - before.accepted).toBe(CYCLES);
    // One log line per terminated client (an abnormal close, 1006), none for the clean ones.
    expect(after.logLines - before.logLines).toBe(CYCLES / 2);
    expect(d.handles).toEqual({});
    expect(d.processListeners).toEqual({});
    expect(d.httpListeners).toEqual({});
    expect(d.rssRatio).toBeLessThanOrEqual(1.1);
    expect(await server.stop()).toBe(0);
  });
});
