/**
 * One server process of spec/e2e/resume-hub.e2e.spec.ts: the BUILT library
 * (`dist/src`), serving resumable sessions on a free port of 127.0.0.1 with
 * a hub on Redis with history. Every session joins `room` (from where its
 * lineage left off) and resumes its other topics; a gap in what it gets is
 * told to its client as a text frame `gap:<missed>`.
 *
 * Plain CommonJS, run by `node` without ts-jest: argv is `redisUrl ttl
 * maxLen maxAge positionsInterval`. It prints `listening <port>`, then
 * `session <id> <predecessor id or -> <why or ->` for each session and
 * `topics <id> <topics>` once its topics are resumed. SIGTERM closes the hub
 * (storing where each session is) and the server, handing the sessions off
 * (their clients come back with them, elsewhere), and exits 0.
 */
'use strict';
const { join } = require('node:path');
const { createHub, redisAdapter, serve, HistoryGapError } = require(join(__dirname, '..', '..', '..', 'dist', 'src', 'index.js'));

const [redisUrl, ttl, maxLen, maxAge, positionsInterval] = process.argv.slice(2);
const history = { maxLen: Number(maxLen), maxAge: Number(maxAge) };
const hub = createHub({
  adapter: redisAdapter({ url: redisUrl, history, backoff: { initialDelay: 50, maxDelay: 500 } }),
  positionsInterval: Number(positionsInterval),
});
const server = serve({ host: '127.0.0.1', port: 0, path: '/ws', resume: { ttl: Number(ttl) } });

hub.errors$.subscribe((error) => {
  if (error instanceof HistoryGapError) error.session.next(`gap:${error.missed}`);
  else console.log(`hub error ${error.code} ${error.message}`);
});
server.sessions$.subscribe((session) => {
  const before = session.predecessor;
  console.log(`session ${session.id} ${before ? before.id : '-'} ${before ? before.why : '-'}`);
  hub.join(session, 'room');
  void hub.resume(session).then((topics) => console.log(`topics ${session.id} ${topics.join(',') || '-'}`));
});

void server.listening.then(({ port }) => console.log(`listening ${port}`));
process.once('SIGTERM', () => void hub.close().then(() => server.close({ handOff: true })).then(() => process.exit(0)));
