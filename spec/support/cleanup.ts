import { opened } from './net';

// Releases whatever a test opened, even when an assertion failed half-way.
afterEach(async () => {
  for (const client of opened.clients) client.terminate();
  for (const socket of opened.sockets) socket.destroy();
  await Promise.all([...opened.servers].map((server) => server.close({ timeout: 200 })));
  opened.clients.clear();
  opened.sockets.clear();
  opened.servers.clear();
});
