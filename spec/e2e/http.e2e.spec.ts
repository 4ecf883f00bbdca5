/**
 * The built echo example over plain HTTP and the `ws` client: origin check on
 * upgrade, 400 for a plain GET on the socket path, 404 elsewhere, the page on /.
 */
import { spawnSync } from 'node:child_process';
import { get, type IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { SERVER_JS, startEcho, type EchoProcess } from './echo-process';

interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** One GET on a fresh connection (no keep-alive agent, so nothing stays open). */
function httpGet(url: string): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

type UpgradeOutcome =
  | { readonly kind: 'refused'; readonly status: number; readonly body: string; readonly ws: WebSocket }
  | { readonly kind: 'open'; readonly ws: WebSocket };

/** Tries an upgrade with the given Origin; reports the HTTP refusal (body read, request destroyed) or the open socket. */
function tryUpgrade(url: string, origin: string | undefined): Promise<UpgradeOutcome> {
  return new Promise<UpgradeOutcome>((resolve, reject) => {
    const ws = new WebSocket(url, { headers: origin === undefined ? {} : { Origin: origin } });
    let settled = false;
    ws.on('open', () => {
      settled = true;
      resolve({ kind: 'open', ws });
    });
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        settled = true;
        req.destroy();
        resolve({ kind: 'refused', status: res.statusCode ?? 0, body, ws });
      });
    });
    ws.on('error', (err) => {
      if (!settled) reject(err);
    });
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: string; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(new Error('closed before a message came'));
    ws.once('close', onClose);
    ws.once('message', (data, isBinary) => {
      ws.removeListener('close', onClose);
      resolve({ data: data.toString(), isBinary });
    });
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

const countOpens = (echo: EchoProcess) => echo.lines.filter((l) => / open 127\.0\.0\.1:\d+ /.test(l)).length;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('echo example over HTTP (e2e)', () => {
  let echo: EchoProcess;

  beforeAll(async () => {
    echo = await startEcho(['--heartbeat-ms', '0']);
  });

  afterAll(async () => {
    expect(await echo?.stop()).toBe(0);
    expect(echo.lines.some((l) => / SIGTERM: closing /.test(l))).toBe(true);
    expect(echo.lines[echo.lines.length - 1]).toMatch(/ closed$/);
  });

  it('refuses a cross-origin upgrade with 403 and opens no WebSocket', async () => {
    const opensBefore = countOpens(echo);
    const outcome = await tryUpgrade(echo.wsUrl, 'http://evil.example');
    expect(outcome).toMatchObject({ kind: 'refused', status: 403, body: 'Forbidden\n' });
    expect(outcome.ws.readyState).not.toBe(WebSocket.OPEN);
    await echo.waitForLine(/upgrade refused 403 from 127\.0\.0\.1 \/ws: origin "http:\/\/evil\.example" not allowed$/);
    // Give a wrongly accepted socket time to show up in the log.
    await sleep(200);
    expect(countOpens(echo)).toBe(opensBefore);
  });

  it('refuses an origin on another host name for the same address (localhost vs 127.0.0.1)', async () => {
    const outcome = await tryUpgrade(echo.wsUrl, `http://localhost:${echo.port}`);
    expect(outcome).toMatchObject({ kind: 'refused', status: 403 });
  });

  it('accepts a same-origin upgrade and echoes over it', async () => {
    const outcome = await tryUpgrade(echo.wsUrl, echo.origin);
    if (outcome.kind !== 'open') throw new Error(`same-origin upgrade refused with ${outcome.status}: ${outcome.body}`);
    const ws = outcome.ws;
    const done = closed(ws);
    try {
      await echo.waitForLine(/ open 127\.0\.0\.1:\d+ \/ws$/);
      const reply = nextMessage(ws);
      ws.send('same-origin ok');
      expect(await reply).toEqual({ data: 'same-origin ok', isBinary: false });
    } finally {
      ws.close(1000, 'http test done');
    }
    expect(await done).toEqual({ code: 1000, reason: 'http test done' });
    await echo.waitForLine(/ close 127\.0\.0\.1:\d+ code=1000 reason="http test done" clean=true$/);
  });

  it('accepts a client that sends no Origin (not a browser)', async () => {
    const outcome = await tryUpgrade(echo.wsUrl, undefined);
    if (outcome.kind !== 'open') throw new Error(`upgrade without Origin refused with ${outcome.status}`);
    const done = closed(outcome.ws);
    outcome.ws.close();
    expect((await done).code).toBe(1005);
  });

  it('answers a plain GET on /ws with 400 and a short explanation', async () => {
    const reply = await httpGet(`${echo.origin}/ws`);
    expect(reply.status).toBe(400);
    expect(reply.headers['content-type']).toMatch(/^text\/plain/);
    expect(reply.body).toMatch(/WebSocket/);
    expect(reply.body.length).toBeLessThan(200);
  });

  it('answers GET /nope with 404', async () => {
    const reply = await httpGet(`${echo.origin}/nope`);
    expect(reply.status).toBe(404);
    expect(reply.body).toBe('Not Found\n');
  });

  it('refuses an upgrade on another path with 404', async () => {
    const outcome = await tryUpgrade(`ws://127.0.0.1:${echo.port}/nope`, undefined);
    expect(outcome).toMatchObject({ kind: 'refused', status: 404 });
  });

  it('serves the test page on /', async () => {
    const reply = await httpGet(`${echo.origin}/`);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(Number(reply.headers['content-length'])).toBe(Buffer.byteLength(reply.body));
    expect(reply.body).toMatch(/^<!doctype html>/i);
    for (const id of ['url', 'app-heartbeat', 'connect', 'disconnect', 'message', 'binary', 'send', 'log', 'status', 'status-detail', 'queued', 'buffered-amount', 'clear']) {
      expect(reply.body).toContain(`id="${id}"`);
    }
    // Self-contained: the script and the style sheet inlined, nothing to fetch (the icon is a data: URL).
    expect(reply.body).toContain('<script type="module">');
    expect(reply.body).not.toMatch(/<script[^>]*\bsrc=|<link[^>]*\bstylesheet/i);
    expect(reply.body).not.toMatch(/\b(?:src|href)=["']?(?:https?:)?\/\//i);
    // Told the server's WebSocket path.
    expect(reply.body).toContain('<meta name="rxjs-ws-path" content="/ws">');
  });
});

describe('echo example started with --origin <list> (e2e)', () => {
  let echo: EchoProcess;

  beforeAll(async () => {
    echo = await startEcho(['--heartbeat-ms', '0', '--origin', 'https://app.example.com,http://localhost:3000']);
  });

  afterAll(async () => {
    expect(await echo?.stop()).toBe(0);
  });

  it('allows the listed origins and the page the server serves itself, and refuses the rest with 403', async () => {
    for (const origin of ['https://app.example.com', 'http://localhost:3000', echo.origin]) {
      const outcome = await tryUpgrade(echo.wsUrl, origin);
      if (outcome.kind !== 'open') throw new Error(`${origin} refused with ${outcome.status}: ${outcome.body}`);
      const done = closed(outcome.ws);
      outcome.ws.close(1000);
      expect((await done).code).toBe(1000);
    }
    const outcome = await tryUpgrade(echo.wsUrl, 'http://evil.example');
    expect(outcome).toMatchObject({ kind: 'refused', status: 403 });
  });

  it('prints --help with every description in one column, --help included', () => {
    const help = spawnSync(process.execPath, [SERVER_JS, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    const columns = help.stdout.split('\n').filter((l) => l.startsWith('  --')).map((l) => l.match(/^ {2}--\S+ +/)![0].length);
    expect(new Set(columns).size).toBe(1);
    expect(help.stdout).toMatch(/\n {2}--help +this text\n$/);
  });
});
