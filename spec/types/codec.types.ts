/**
 * Type-level tests, checked by `tsc --noEmit -p .` (the first step of `npm test`)
 * and never run. Each `@ts-expect-error` must meet an error: an unused one is
 * itself an error (TS2578), so a type that grew too loose fails the build too.
 */
import { Observable, of, type OperatorFunction } from 'rxjs';
import type { DecodeError, EncodeError, Inbound, Message, RxSocket } from 'rxjs-ws';
import { testSocket, type TestSocket, type WireEvent } from 'rxjs-ws/testing';
import { json, type BinaryCodec, type Codec, type TextCodec } from '../../src/codec/codec';
import { typed, type TypedSocket } from '../../src/codec/typed';
import { decode, encode } from '../../src/codec/operators';

/** `true` only when X and Y are the same type (not merely assignable, and never `any`). */
type Equal<X, Y> = (<G>() => G extends X ? 1 : 2) extends <G>() => G extends Y ? 1 : 2 ? true : false;
const expectType = <T extends true>(ok: T): T => ok;

interface ChatIn {
  readonly from: string;
  readonly text: string;
}
interface ChatOut {
  readonly text: string;
}
interface Animal {
  readonly name: string;
}
interface Dog extends Animal {
  bark(): void;
}

declare const socket: RxSocket;
const isChatIn = (v: unknown): v is ChatIn => typeof v === 'object' && v !== null && 'from' in v && 'text' in v;

export function decodingGivesObservableOfT(): void {
  const chat = typed(socket, json<ChatIn, ChatOut>());
  expectType<Equal<typeof chat.messages$, Observable<ChatIn>>>(true);
  expectType<Equal<typeof chat, TypedSocket<ChatIn, ChatOut, RxSocket>>>(true);
  // @ts-expect-error decoded values are ChatIn, not strings
  chat.messages$.subscribe((m: string) => m);

  // The guard gives T; U follows T.
  const guarded = typed(socket, json({ guard: isChatIn }));
  expectType<Equal<typeof guarded.messages$, Observable<ChatIn>>>(true);
  guarded.next({ from: 'a', text: 'b' });

  // The socket underneath keeps its full type.
  expectType<Equal<typeof chat.socket, RxSocket>>(true);
  expectType<Equal<typeof chat.socket.messages$, Observable<Inbound>>>(true);

  // Codecs see a message as string | Uint8Array, in Node (a Buffer is one) and in browsers.
  const operator = decode(json<ChatIn>());
  expectType<Equal<typeof operator, OperatorFunction<Message, ChatIn>>>(true);
  const encoder = encode(json<ChatIn, ChatOut>());
  expectType<Equal<typeof encoder, OperatorFunction<ChatOut, string | Uint8Array>>>(true);

  // onInvalid hears of the error its operator skips, with its type.
  decode(json<ChatIn>(), { onInvalid: (e) => expectType<Equal<typeof e, DecodeError>>(true) });
  encode(json<ChatIn, ChatOut>(), { onInvalid: (e) => expectType<Equal<typeof e, EncodeError>>(true) });
  // @ts-expect-error decode's onInvalid gets a DecodeError, never an EncodeError
  decode(json<ChatIn>(), { onInvalid: (e: EncodeError) => e });
}

export function theSinkAcceptsOnlyU(): void {
  const chat = typed(socket, json<ChatIn, ChatOut>());
  chat.next({ text: 'hi' });
  chat.send({ text: 'hi' });
  of<ChatOut>({ text: 'hi' }).subscribe(chat);
  // @ts-expect-error a string is a frame for the socket, not a ChatOut
  chat.next('hi');
  // @ts-expect-error excess properties are caught as usual
  chat.send({ text: 'hi', from: 'me' });
  // @ts-expect-error an Observable of frames cannot feed a typed sink
  of('raw').subscribe(chat);
  // @ts-expect-error the sink of U is U, not T
  chat.next({ from: 'a' });

  // A sink of Dog is not a sink of Animal (it would take a Cat); the other way round is fine.
  const dogs = typed(socket, json<Dog>());
  const animals = typed(socket, json<Animal>());
  const narrower: TypedSocket<Animal, Dog, RxSocket> = animals;
  // @ts-expect-error U is contravariant
  const wider: TypedSocket<Dog, Animal> = dogs;
  void narrower;
  void wider;
}

export function codecsAreCheckedByKind(): void {
  const text: TextCodec<number> = { kind: 'text', encode: String, decode: Number };
  const binary: BinaryCodec<Uint8Array> = { kind: 'binary', encode: (b) => b, decode: (f) => (typeof f === 'string' ? Buffer.from(f) : f) };
  const codecs: Codec<unknown, never>[] = [text, binary];
  // @ts-expect-error a binary codec encodes to bytes, not text
  const wrong: Codec<string> = { kind: 'binary', encode: (s: string) => s, decode: String };
  // @ts-expect-error a Codec<Dog> is not a Codec<Animal>: it cannot encode every Animal
  const unsound: Codec<Animal> = json<Dog>();
  void codecs;
  void wrong;
  void unsound;
}

export function theKitIsTyped(scheduler: Parameters<typeof testSocket>[0]): void {
  const t: TestSocket<{ user: string }> = testSocket(scheduler, { auth: { user: 'ann' } });
  expectType<Equal<typeof t.socket.auth, { user: string }>>(true);
  t.inbound('-a-b-c-d-e-f', { a: 'text', b: Buffer.from([1]), c: { pong: true }, d: { close: 4000 }, e: { stall: true }, f: { drain: true } });
  // @ts-expect-error numbers are not frames
  t.inbound('-a', { a: 42 });
  const sent: Record<string, WireEvent> = { a: 'text', b: Buffer.from([1]), p: { ping: true }, c: { close: 1000 }, t: { terminate: true } };
  t.expectSent('-a', sent);
  // @ts-expect-error a close frame has a numeric code
  t.expectSent('-c', { c: { close: 'normal' } });
}
