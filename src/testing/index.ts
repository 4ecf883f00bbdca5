/**
 * `rxjs-ws/testing`: marble-test your socket handlers in virtual time, with a
 * real `RxSocket` over a fake connection.
 *
 * @module rxjs-ws/testing
 */
export { testSocket } from './test-socket';
export type { PeerEvent, TestSocket, TestSocketOptions } from './test-socket';
export { FakeRawSocket, FakeWebSocket } from './fake-ws';
export type { SentFrame, WireEvent } from './fake-ws';
