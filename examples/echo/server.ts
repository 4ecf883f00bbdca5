/**
 * The echo server on rxjs-ws: GET / serves the test page, /ws
 * echoes every frame with its kind and sends `heart beat` every second;
 * GET /metrics is Prometheus text, /metrics.json the page's live panel.
 *
 *   npm start -- --port 8080 --heartbeat-ms 1000
 *   npm start -- --deflate        (permessage-deflate for clients that offer it)
 *   npm start -- --resume         (resumable sessions for clients that ask: nothing lost across drops)
 */
import { interval, map, merge, takeUntil } from 'rxjs';
import { serve, type RxSession, type RxSocket } from 'rxjs-ws';
import { closeOnSignals, intFlag, log, originFlag, pages, parseFlags, serverFlags, stillOpen, switchFlag } from '../cli';
import { ExampleMetrics } from '../metrics';

const flags = parseFlags(
  process.argv.slice(2),
  [
    ...serverFlags,
    { name: 'heartbeat-ms', default: '1000', help: 'send the text "heart beat" this often, in ms; 0 turns it off' },
    { name: 'ping-interval-ms', default: '30000', help: 'protocol ping after this much quiet, in ms (dead-peer detection); 0 turns it off' },
    { name: 'ping-timeout-ms', default: '10000', help: 'terminate a peer whose ping is unanswered this long, in ms' },
    { name: 'max-payload', default: String(16 * 1024 * 1024), help: 'largest message a client may send, in bytes; a bigger one closes it with 1009' },
    { name: 'max-per-address', default: '256', help: 'open sockets per client address at most (HTTP 503 past it)' },
    { name: 'handshakes-per-address', default: '100', help: 'handshakes a client address may start per second (HTTP 429 past it)' },
    {
      name: 'deflate',
      default: 'off',
      switch: true,
      help: "permessage-deflate for clients that offer it, with ws's defaults (context takeover, 15-bit windows); --deflate or --deflate=on|off",
    },
    {
      name: 'resume',
      default: 'off',
      switch: true,
      help: 'resumable sessions (2 min ttl) for clients that ask: frames in flight when a connection drops are sent again; --resume or --resume=on|off',
    },
  ],
  'Usage: npm start -- [options]\n\nThe rxjs-ws echo server: GET / serves a test page; the WebSocket path echoes every frame.',
);
const port = intFlag(flags, 'port', 0, 65535);
const heartbeatMs = intFlag(flags, 'heartbeat-ms', 0);
const pingInterval = intFlag(flags, 'ping-interval-ms', 0);
const pingTimeout = intFlag(flags, 'ping-timeout-ms', 1);
const shutdownMs = intFlag(flags, 'shutdown-timeout-ms', 1, 2_147_483_647); // a timer's longest delay
const path = flags.path!;
// An echo test server takes messages of any size a test suite sends (16 MiB by default, as Autobahn's largest).
const maxPayload = intFlag(flags, 'max-payload', 1);
const maxPerAddress = intFlag(flags, 'max-per-address', 1);
const handshakesPerAddress = intFlag(flags, 'handshakes-per-address', 1);
const deflate = switchFlag(flags, 'deflate');
const resume = switchFlag(flags, 'resume');

const server = serve({
  port,
  host: flags.host!,
  path,
  origin: originFlag(flags.origin!),
  heartbeat: pingInterval > 0 && { interval: pingInterval, timeout: pingTimeout },
  // An echo's output is its input: while a client does not read its echoes, stop reading what it sends
  // (TCP slows it down), so the queue stays small; one that still overflows it is closed with 1013, not ignored.
  outbound: { pauseReading: true, policy: 'close' },
  maxPayload,
  perMessageDeflate: deflate,
  resume,
  maxConnectionsPerAddress: maxPerAddress,
  handshakesPerAddress,
  log,
  // GET / is the page; /metrics is Prometheus text and /metrics.json the page's live panel.
  request: pages('echo', path, (pathname, res, head): boolean => metrics.serve(pathname, res, head)),
});
const metrics = new ExampleMetrics(server);

// Plain clients come as connections, clients that asked for a resumable session (with --resume) as sessions.
merge(server.connections$, server.sessions$).subscribe((socket: RxSocket | RxSession) => {
  // (A peer gone before its socket was handed over may have left no port to read.)
  const connection = 'id' in socket ? socket.socket : socket;
  const port = connection?.remotePort;
  const peer = `${connection?.remoteAddress || 'unknown'}${port === undefined ? '' : `:${port}`}`;
  log(`open ${peer} ${connection?.url}${'id' in socket ? ' (session)' : ''}`);

  // Echo: inbound piped into the sink; text stays text, binary stays binary.
  socket.messages$.subscribe(socket);

  // A "heart beat": an application message every second, until the socket closes.
  if (heartbeatMs > 0) {
    interval(heartbeatMs)
      .pipe(map(() => 'heart beat'), takeUntil(socket.close$))
      .subscribe(socket);
  }

  socket.close$.subscribe(({ code, reason, wasClean }) =>
    log(`close ${peer} code=${code} reason=${JSON.stringify(reason)} clean=${wasClean}`),
  );
});

server.listening.then(
  (address) =>
    log(`echo server on http://${address.address}:${address.port}/ (WebSocket at ${path})${deflate ? ', permessage-deflate on' : ''}${resume ? ', resumable sessions on' : ''}`),
  (err: Error) => {
    log(`cannot listen: ${err.message}`);
    process.exit(1);
  },
);

closeOnSignals(
  () => `1001 to ${server.sockets.size} client(s)`,
  () => server.close(),
  { left: () => stillOpen(server), deadlineMs: shutdownMs },
);
