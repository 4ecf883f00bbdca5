/**
 * The server's side of resumable sessions, in virtual time: the registry
 * (`SessionRegistry`, as `serve({ resume })` has it) under races and
 * re-entrant subscribers, on in-memory connections (spec/support/resume.ts).
 */
import { take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { WebSocket } from 'ws';
import { RxSocket, type RxSession } from '../../src';
import { handshakeFrame, RESUME_PROTOCOL } from '../../src/resume/link';
import { SessionRegistry, type RegistryConfig } from '../../src/resume/registry';
import { AcceptedWs, bench, registryConfig } from '../support/resume';

function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** A registry and the resume connections handed to it as the server does (`accept()`). */
function server(scheduler: TestScheduler, config: Partial<RegistryConfig> = {}) {
  const registry = new SessionRegistry<undefined>(registryConfig(scheduler, config));
  const sessions: RxSession[] = [];
  registry.sessions$.subscribe((s) => sessions.push(s));
  const accept = (ws = new AcceptedWs(RESUME_PROTOCOL)) => {
    const socket = new RxSocket(ws as unknown as WebSocket, { heartbeat: false, onUnsent: () => {} });
    registry.accept(socket);
    return { ws, socket };
  };
  return { registry, sessions, accept };
}

describe('the registry: a subscriber that ends the session from inside', () => {
  it('writable$ turning false as the client drops, and the app closing the session there: it ends, and is not kept as away (no ttl, not counted)', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { registry, sessions, accept } = server(scheduler, { ttl: 1000, maxSessions: 1 });
      const { ws } = accept();
      ws.receive(handshakeFrame('H', { s: null, r: 0, w: 1000 }));
      const session = sessions[0]!;
      // An app that does not keep sessions for clients that went away.
      session.writable$.subscribe((writable) => writable || session.state !== 'connecting' || session.close());
      ws.drop();
      expect(session.state).toBe('closed');
      expect(registry.counts()).toMatchObject({ open: 0, away: 0 });
      // The ttl timer went with it.
      expect(scheduler.actions).toEqual([]);
      // And maxSessions still holds: of two sessions away past it, the older is evicted.
      const others = [accept(), accept()];
      others.forEach(({ ws: w }) => w.receive(handshakeFrame('H', { s: null, r: 0, w: 1000 })));
      others.forEach(({ ws: w }) => w.drop());
      expect(sessions.slice(1).map((s) => s.state)).toEqual(['closed', 'connecting']);
      expect(registry.counts()).toMatchObject({ open: 1, away: 1, evicted: 1 });
    });
  });
});

describe('the registry: a hello on a connection that is closing', () => {
  it('the server closed (close() ran, the connection closing): no session begins, none is kept, no timer is left', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { registry, sessions, accept } = server(scheduler, { ttl: 1000 });
      const { ws, socket } = accept();
      registry.close(1001, 'Server shutting down', false);
      socket.close(1001, 'Server shutting down'); // as the server closes every socket
      // The client's hello was on its way: it arrives while the close handshake is under way.
      ws.receive(handshakeFrame('H', { s: null, r: 0, w: 1000 }));
      ws.receiveClose(1001);
      expect(socket.state).toBe('closed');
      expect(sessions).toEqual([]);
      expect(registry.counts()).toMatchObject({ open: 0, away: 0 });
      expect(scheduler.actions).toEqual([]);
    });
  });
});
describe('the registry: a hello that claims frames the session never sent', () => {
  it('gets no welcome (it would say "resumed"), is not counted as resumed, and leaves the connection the session is on alone', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const { registry, sessions, accept } = server(scheduler);
      const first = accept();
      first.ws.receive(handshakeFrame('H', { s: null, r: 0, w: 1000 }));
      const session = sessions[0]!;
      session.next('s1');
      const liar = accept();
      liar.ws.receive(handshakeFrame('H', { s: session.id, r: 5, w: 1000 }));
      expect(liar.ws.sent).toEqual([]);
      expect(liar.ws.closeSent?.code).toBe(1002);
      expect(registry.counts().resumed).toBe(0);
      expect(session.connections).toBe(1);
      expect(session.socket).toBe(first.socket);
      expect(first.ws.terminated).toBe(false);
    });
  });
});

describe('the registry: the inbound hold', () => {
  it('a session that reads again after its hold was full takes what its connection held meanwhile only up to inboundHold', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const b = bench(scheduler, { inboundHold: 5 });
      const client = b.client({ resume: { maxBytes: 1000 } });
      let session: RxSession | undefined;
      b.registry.sessions$.subscribe((s) => (session = s));
      const frames = Array.from({ length: 40 }, (_, i) => `c${String(i).padStart(2, '0')}`); // 3 bytes each
      scheduler.schedule(() => frames.forEach((f) => client.next(f)), 5);
      const taken: string[] = [];
      scheduler.schedule(() => {
        expect(session!.memoryCost()).toBe(5 * 3); // full: the rest waits in the connection
        // One frame taken: the session reads again, and its connection hands over all it held.
        session!.messages$.pipe(take(1)).subscribe((m) => taken.push(String(m)));
        expect(session!.memoryCost()).toBeLessThanOrEqual(5 * 3);
      }, 50);
      scheduler.schedule(() => session!.messages$.subscribe((m) => taken.push(String(m))), 100);
      scheduler.schedule(() => client.close(), 200);
      scheduler.flush();
      expect(taken).toEqual(frames);
    });
  });
});
