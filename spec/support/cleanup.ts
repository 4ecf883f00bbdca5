import { opened } from './net';

// Releases whatever a test opened, even when an assertion failed half-way. It runs after EVERY
// test, so clients opened with open() in a beforeAll do not survive the first test: open them per test.
afterEach(async () => {
  for (const client of opened.clients) client.terminate();
  for (const socket of opened.sockets) socket.destroy();
  await Promise.all([...opened.servers].map((server) => server.close({ timeout: 200 })));
  opened.clients.clear();
  opened.sockets.clear();
  opened.servers.clear();
});
