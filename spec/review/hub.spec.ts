/**
 * Review: a socket leaves its hub topics when it closes, before anyone hears
 * of the close: a handler of its messages$ completion (the usual "X left"
 * broadcast) must not find it still a member.
 */
import { createHub, type RxjsWsError } from '../../src';
import { fakeSocket } from '../support/fake';

describe('review: hub membership at the close', () => {
  it('a broadcast from a closed socket messages$ completion is not handed to that closed socket', async () => {
    const hub = createHub();
    const alice = fakeSocket();
    const bob = fakeSocket();
    hub.join(alice.socket, 'room');
    hub.join(bob.socket, 'room');
    const bobErrors: RxjsWsError[] = [];
    bob.socket.errors$.subscribe((e) => bobErrors.push(e));
    let handedTo = -1;
    let stillMember: boolean | undefined;
    bob.socket.messages$.subscribe({
      complete: () => {
        stillMember = hub.members('room').has(bob.socket);
        handedTo = hub.publish('room', 'bob left');
      },
    });
    bob.fake.receiveClose(1000);
    expect(bob.socket.state).toBe('closed');
    expect(alice.fake.sent.map((f) => String(f.data))).toEqual(['bob left']);
    expect(bobErrors.map((e) => e.name)).toEqual([]); // nothing was offered to the closed socket
    expect(handedTo).toBe(1); // alice only
    expect(stillMember).toBe(false);
    await hub.close();
  });
});
