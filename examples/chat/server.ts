/**
 * gorilla/websocket's chat example on rxjs-ws, across processes: GET / serves
 * the chat page; every text frame a client sends on /ws goes to every client
 * of every process sharing the Redis server, with the sender's name, and
 * every client hears how many are online. Without --redis, this process only.
 *
 *   npm run chat -- --port 8080 --redis redis://127.0.0.1:6379
 *
 * Frames out: {"type":"message","from":"ann","text":"hi","at":1700000000000}
 * and {"type":"online","count":3}.
 */
import { randomBytes } from 'node:crypto';
import { CloseCode, createHub, redisAdapter, serve, type HubStatus, type RxSocket } from 'rxjs-ws';
import { closeOnSignals, fail, intFlag, log, originFlag, pages, parseFlags, serverFlags, stillOpen, switchFlag } from '../cli';
import { ExampleMetrics } from '../metrics';
import { OnlineCount } from './online';

const ROOM = 'chat';
/** How often, at most, clients hear the online count: a thousand joins make one update, not a thousand. */
const PRESENCE_MS = 100;
const MAX_NAME_CHARS = 32;
/**
 * What one client may send, per second: people type a message every few
 * seconds at most, so 10 messages a second (and a burst of 10) never slows a
 * person down, and 4 messages of the largest size (--max-bytes) a second
 * bounds what one client makes every other client receive. Past either, the
 * server stops reading that client until its budget refills: its messages are
 * delayed, in order, never lost, and a script flooding the room gets through
 * at this rate and no faster, while what it sends meanwhile waits in TCP
 * buffers, not in this process.
 */
const RATE_MESSAGES = 10;
const RATE_MAX_SIZE_MESSAGES = 4;

const flags = parseFlags(
  process.argv.slice(2),
  [
    ...serverFlags,
    { name: 'redis', env: 'REDIS_URL', default: '', help: 'Redis URL shared by every chat process, e.g. redis://127.0.0.1:6379; empty: this process only' },
    { name: 'max-bytes', default: '4096', help: 'largest message a client may send; a bigger one closes it with 1009' },
    {
      name: 'deflate',
      default: 'off',
      switch: true,
      help: 'permessage-deflate for clients that offer it, without server context takeover: a message to the room is compressed once for everyone; --deflate or --deflate=on|off',
    },
  ],
  'Usage: npm run chat -- [options]\n\nThe rxjs-ws chat server: GET / serves the chat page; every text frame sent on the WebSocket path goes to every client.',
);
const port = intFlag(flags, 'port', 0, 65535);
const maxBytes = intFlag(flags, 'max-bytes', 1, 1 << 20);
const shutdownMs = intFlag(flags, 'shutdown-timeout-ms', 1, 2_147_483_647); // a timer's longest delay
const path = flags.path!;
const redisUrl = flags.redis!;
const deflate = switchFlag(flags, 'deflate');
if (redisUrl !== '' && !/^rediss?:\/\//.test(redisUrl)) fail(`--redis must be a redis:// URL, got ${JSON.stringify(redisUrl)}`);

const hub = createHub({ adapter: redisUrl ? redisAdapter({ url: redisUrl }) : undefined });
let status: HubStatus = { state: 'connecting' };

const server = serve({
  port,
  host: flags.host!,
  path,
  origin: originFlag(flags.origin!),
  maxPayload: maxBytes,
  // Each broadcast stands alone (no server context takeover), so the hub compresses it once for every member.
  perMessageDeflate: deflate && { serverNoContextTakeover: true },
  // gorilla's hub drops a client that cannot keep up; so does this one (1013), and nobody else waits for it.
  outbound: { policy: 'close', maxMessages: 256, maxBytes: 1 << 20 },
  rateLimit: { messages: RATE_MESSAGES, bytes: RATE_MAX_SIZE_MESSAGES * maxBytes, policy: 'pause' },
  log,
  request: pages('chat', path, (pathname, res, head): boolean => {
    if (metrics.serve(pathname, res, head)) return true; // /metrics (Prometheus text) and /metrics.json (the live panel)
    if (pathname !== '/status') return false;
    const body = JSON.stringify({ redis: redisUrl ? describeStatus(status) : null, clients: server.sockets.size, hub: hub.stats });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
    res.end(head ? undefined : body);
    return true;
  }),
});

const metrics = new ExampleMetrics(server, hub);

// Each process tells its own clients the total it knows of.
const online = new OnlineCount(hub, ROOM, PRESENCE_MS);

server.connections$.subscribe((socket) => {
  const name = nameOf(socket);
  const peer = socket.remoteAddress || 'unknown';
  log(`open ${peer} as ${JSON.stringify(name)}`);
  hub.join(socket, ROOM); // and it leaves when it closes
  online.joined(socket);

  socket.messages$.subscribe({
    next: (frame) => {
      if (typeof frame !== 'string') return socket.close(CloseCode.UNSUPPORTED_DATA, 'Text frames only');
      hub.publish(ROOM, JSON.stringify({ type: 'message', from: name, text: frame, at: Date.now() }));
    },
    error: () => {}, // an abnormal close: logged below
  });
  socket.close$.subscribe(({ code, reason }) => log(`close ${peer} ${JSON.stringify(name)} code=${code} reason=${JSON.stringify(reason)}`));
});


if (redisUrl) {
  // A publish Redis refused, a topic it would not subscribe, or its queue overflowing (Redis unreachable or frozen).
  hub.errors$.subscribe((err) => log(`redis: ${err.message}`));
  hub.status$.subscribe((next) => {
    const was = status.state;
    status = next;
    if (next.state === 'connected') {
      log(next.attempts === 0 ? `redis: connected to ${redact(redisUrl)}` : `redis: reconnected after ${next.attempts} attempt(s)`);
    } else if (next.state === 'reconnecting') {
      if (was === 'connected') log(`redis: disconnected (${next.error?.message ?? 'connection lost'})`);
      log(`redis: reconnecting (attempt ${next.attempt}, next in ${next.delay} ms)`);
    } else if (next.state === 'disconnected') {
      log(`redis: closed${next.error ? ` (${next.error.message})` : ''}`);
    }
  });
}

server.listening.then(
  (address) =>
    log(`chat server on http://${address.address}:${address.port}/ (WebSocket at ${path}; ${redisUrl ? `via ${redact(redisUrl)}` : 'this process only'})`),
  (err: Error) => {
    log(`cannot listen: ${err.message}`);
    process.exit(1);
  },
);

// Sockets first, so the hub's goodbye tells other processes they left; no more
// counts then (the count would still emit its last one into the closed hub).
closeOnSignals(
  () => `1001 to ${server.sockets.size} client(s)`,
  () => server.close().then(() => (online.stop(), hub.close())),
  { left: () => `${stillOpen(server)}; ${hub.stats.adapter.queued} message(s) not yet taken by Redis`, deadlineMs: shutdownMs },
);

/** The `name` query parameter, tidied; a random guest name without one. */
function nameOf(socket: RxSocket): string {
  const given = new URL(socket.url ?? '/', 'http://localhost').searchParams.get('name') ?? '';
  // eslint-disable-next-line no-control-regex
  const name = given.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, MAX_NAME_CHARS);
  return name || `guest-${randomBytes(2).toString('hex')}`;
}

function describeStatus(s: HubStatus): object {
  return 'error' in s ? { ...s, error: s.error?.message ?? null } : s;
}

/** The URL without its password, for logs. */
function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
