/**
 * What `connect()` costs a page: the browser build, taken by its package name
 * (the `browser` export condition), bundled alone for a browser with rxjs,
 * minified and gzipped. It must need no Node built-in, no `ws` and no
 * server code, and stay within its budget.
 */
import { bundleConnect, PACKAGE_DIR, splitBytes, type BrowserBundle } from '../../bench/bundle';

/**
 * Bytes of the gzipped bundle at most. The target is 7 KiB (7168), which
 * connect() does not reach with all it does now (about 3 KB of it is rxjs's
 * Observable core and subjects, in the esm5 build a default bundler takes):
 * until it does, the budget is about what it costs today (12,996, of which
 * about 170 are `client.metrics$()` and its counters, about 2,350 the
 * resumable session, and about 210 the held stream's own multicast, which
 * saves a server about 0.5 KiB per socket), so that it cannot grow.
 */
const BUDGET = 13_000;

let bundle: BrowserBundle;

beforeAll(async () => {
  bundle = await bundleConnect(); // esbuild fails here on a Node built-in: a browser has none
}, 120_000);

describe('the browser bundle of connect()', () => {
  it('takes the browser build through the package exports, and nothing of Node', () => {
    const inputs = Object.keys(bundle.inputs);
    expect(inputs).toContain(`${PACKAGE_DIR}dist/browser/client/browser.js`);
    expect(inputs.filter((path) => path.startsWith('node:') || /(^|\/)node_modules\/ws\//.test(path))).toEqual([]);
    expect(inputs.filter((path) => path.startsWith(PACKAGE_DIR) && !path.startsWith(`${PACKAGE_DIR}dist/browser/`))).toEqual([]);
  });

  it('holds no server, hub or Node socket code', () => {
    const own = Object.keys(bundle.inputs).filter((path) => path.startsWith(PACKAGE_DIR));
    expect(own.filter((path) => /\/(server|hub|testing)\/|\/socket\/(socket|ws-internals|outbound|inbound|prepared|rate|heartbeat)\.js$/.test(path))).toEqual([]);
  });

  it(`is at most ${BUDGET} bytes gzipped`, () => {
    const { own, dependencies } = splitBytes(bundle);
    process.stdout.write(`connect() for browsers: ${bundle.gzip} bytes gzip -9, ${bundle.minified} minified (rxjs-ws ${own}, rxjs ${dependencies})\n`);
    expect(bundle.gzip).toBeLessThanOrEqual(BUDGET);
  });
});
