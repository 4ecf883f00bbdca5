import fc from 'fast-check';
import { config, map, Observable, Subject, take, takeUntil, type Subscriber } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { CloseCode, DecodeError, EncodeError, InvalidArgumentError, SocketClosedError, type CloseInfo, type Inbound, type Outbound, type RxjsWsError } from 'rxjs-ws';
import { testSocket } from 'rxjs-ws/testing';
import { json, type BinaryCodec, type Codec } from '../../src/codec/codec';
import { typed, type FrameSocket } from '../../src/codec/typed';
import { decode, encode } from '../../src/codec/operators';

let scheduler: TestScheduler;
beforeEach(() => (scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))));

// What RxJS reports as unhandled is thrown from a timer in production, killing the process:
// record it instead (inside scheduler.run() that timer is virtual, so it fires by the end of run()).
let escaped: unknown[];
beforeEach(() => {
  escaped = [];
  config.onUnhandledError = (error) => escaped.push(error);
});
afterEach(() => (config.onUnhandledError = null));

/** A sensor reading in 12 bytes: u32 sensor id, f64 value (the custom codec of docs/codecs.md). */
interface Reading {
  readonly sensor: number;
  readonly value: number;
}
const readings: Codec<Reading> = {
  kind: 'binary',
  encode: ({ sensor, value }) => {
    const frame = Buffer.allocUnsafe(12);
    frame.writeUInt32BE(sensor, 0);
    frame.writeDoubleBE(value, 4);
    return frame;
  },
  decode: (frame) => {
    if (typeof frame === 'string' || frame.length !== 12) throw new TypeError('Expected a 12-byte binary frame');
    const view = new DataView(frame.buffer, frame.byteOffset, frame.length);
    return { sensor: view.getUint32(0), value: view.getFloat64(4) };
  },
};

/** Several strings in one binary frame, each behind a u32 length. */
const lengthPrefixed: BinaryCodec<string[]> = {
  kind: 'binary',
  encode: (parts) => Buffer.concat(parts.flatMap((p) => [u32(Buffer.byteLength(p)), Buffer.from(p)])),
  decode: (frame) => {
    if (typeof frame === 'string') throw new TypeError('Expected a binary frame');
    const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.length); // a Buffer in Node already; this works for any Uint8Array
    const parts: string[] = [];
    for (let at = 0; at < bytes.length; ) {
      const end = at + 4 + bytes.readUInt32BE(at);
      if (end > bytes.length) throw new RangeError('Truncated part');
      parts.push(bytes.toString('utf8', at + 4, end));
      at = end;
    }
    return parts;
  },
};
const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);

const circular = () => {
  const o: { self?: unknown } = {};
  o.self = o;
  return o;
};

describe('json()', () => {
  it('decodes text frames and encodes to text', () => {
    const codec = json<{ n: number }>();
    expect(codec.kind).toBe('text');
    expect(codec.decode('{"n":1}')).toEqual({ n: 1 });
    expect(codec.encode({ n: 2 })).toBe('{"n":2}');
  });

  it('refuses binary frames unless binary: "utf8", and then refuses invalid UTF-8', () => {
    expect(() => json().decode(Buffer.from('{}'))).toThrow('Expected a text frame: the json codec was not given `binary: "utf8"`');
    const lenient = json({ binary: 'utf8' });
    expect(lenient.decode(Buffer.from('{"é":1}'))).toEqual({ é: 1 });
    expect(() => lenient.decode(Buffer.from([0x7b, 0xff, 0x7d]))).toThrow('The encoded data was not valid for encoding utf-8');
  });

  it('checks values with guard, and passes reviver and replacer on', () => {
    const isPoint = (v: unknown): v is { x: number } => typeof (v as { x?: unknown } | null)?.x === 'number';
    const codec = json({ guard: isPoint });
    expect(codec.decode('{"x":1}').x).toBe(1);
    expect(() => codec.decode('{"y":1}')).toThrow('The decoded value failed the guard');
    const dated = json<{ at: Date }>({ reviver: (k, v) => (k === 'at' ? new Date(v as string) : v), replacer: (k, v) => (k === 'secret' ? undefined : v) });
    expect(dated.decode('{"at":"2026-01-01T00:00:00.000Z"}').at).toBeInstanceOf(Date);
    expect(dated.encode({ at: new Date(0), secret: 1 } as never)).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
  });

  it('throws for what JSON cannot represent: cycles, BigInt, undefined', () => {
    const codec = json<unknown>();
    expect(() => codec.encode(circular())).toThrow(/circular/);
    expect(() => codec.encode(1n)).toThrow(/BigInt/);
    expect(() => codec.encode(undefined)).toThrow('JSON cannot represent `undefined` (undefined)');
  });

  it('checks its options when called', () => {
    expect(() => json({ binary: 'latin1' as never })).toThrow('Expected `options.binary` to be one of "reject", "utf8", got `"latin1"` (string)');
    expect(() => json({ guard: true as never })).toThrow('Expected `options.guard` to be a function, got `true` (boolean)');
  });
});

describe('typed()', () => {
  it('decodes each frame once, however many subscribe, and sends encoded values', () => {
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler);
      let decodes = 0;
      const codec = json<{ n: number }>({ guard: (v): v is { n: number } => (decodes++, true) });
      const chat = typed(t.socket, codec);
      for (let i = 0; i < 3; i++) expectObservable(chat.messages$).toBe('-a-b-|', { a: { n: 1 }, b: { n: 2 } });
      chat.messages$.subscribe(({ n }) => chat.next({ n: n * 10 }));
      t.inbound('-a-b-|', { a: '{"n":1}', b: '{"n":2}' });
      t.expectSent('-a-b-(c|)', { a: '{"n":10}', b: '{"n":20}', c: { close: 1000 } });
      scheduler.schedule(() => expect(decodes).toBe(2), 10);
    });
  });

  it("closes with 1007 on a frame that does not decode (default); messages$ then completes as the socket's does", () => {
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler);
      const chat = typed(t.socket, json<number>());
      t.inbound('-a-x-b', { a: '1', x: 'not json', b: '2' });
      const info = { code: CloseCode.INVALID_PAYLOAD, reason: 'Could not decode a text frame of 8 bytes', wasClean: true };
      t.expectSent('---(c|)', { c: { close: info.code, reason: info.reason } });
      expectObservable(chat.messages$).toBe('-a-|', { a: 1 });
      expectObservable(chat.close$).toBe('---(c|)', { c: info });
      expectObservable(chat.errors$.pipe(map((e) => [e.code, (e as DecodeError).frame]))).toBe('---e', { e: ['RXJS_WS_DECODE_FAILED', 'not json'] });
    });
  });

  it("with invalid: 'skip' drops the frame, reports it, and goes on for every subscriber", () => {
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler);
      const chat = typed(t.socket, readings, { invalid: 'skip' });
      const a = readings.encode({ sensor: 7, value: 21.5 });
      t.inbound('-a-x-y-a-|', { a, x: 'text', y: Buffer.from([1, 2, 3]) });
      expectObservable(chat.messages$).toBe('-a-----a-|', { a: { sensor: 7, value: 21.5 } });
      expectObservable(chat.messages$).toBe('-a-----a-|', { a: { sensor: 7, value: 21.5 } });
      const causes = chat.errors$.pipe(map((e) => (e as DecodeError).cause instanceof TypeError && e.message));
      expectObservable(causes).toBe('---x-y----', { x: 'Could not decode a text frame of 4 bytes', y: 'Could not decode a binary frame of 3 bytes' });
      t.expectSent('---------(c|)', { c: { close: 1000 } });
    });
  });

  it('a subscriber that fails does not end the stream for the others', () => {
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler);
      const chat = typed(t.socket, json<number>(), { invalid: 'skip' });
      const bug = new Error('bug in one handler');
      const failing = chat.messages$.pipe(map((n) => (n === 2 ? (() => { throw bug; })() : n)));
      t.inbound('-a-b-c-|', { a: '1', b: '2', c: '3' });
      expectObservable(failing).toBe('-a-#', { a: 1 }, bug);
      expectObservable(chat.messages$).toBe('-a-b-c-|', { a: 1, b: 2, c: 3 });
    });
  });

  it('keeps frames in the socket until the first subscriber, and again when all have left', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const t = testSocket(scheduler);
      const chat = typed(t.socket, json<string>());
      t.inbound('ab--c--|', { a: '"a"', b: '"b"', c: '"c"' });
      const first = cold('---x').pipe(map(() => chat.messages$.subscribe().unsubscribe()));
      first.subscribe(); // takes the held a and b at 3, then leaves
      expectObservable(chat.messages$, '-----^').toBe('-----c-|', { c: 'c' });
    });
  });

  it('leaves the held frames a subscriber did not take for the next one', () => {
    const t = testSocket(scheduler);
    const chat = typed(t.socket, json<number>());
    for (const n of ['1', '2', '3']) t.ws.receive(n); // before anyone subscribes: held by the socket
    const first: number[] = [];
    const rest: number[] = [];
    chat.messages$.pipe(take(1)).subscribe((n) => first.push(n));
    chat.messages$.subscribe((n) => rest.push(n));
    t.ws.receive('4');
    expect([first, rest]).toEqual([[1], [2, 3, 4]]);
  });

  it('a subscriber that leaves, and one that comes, within one delivery share the held frames: none comes twice', () => {
    const t = testSocket(scheduler);
    const chat = typed(t.socket, json<number>());
    for (const n of ['1', '2', '3']) t.ws.receive(n); // held by the socket
    const leave = new Subject<void>();
    const first: number[] = [];
    const next: number[] = [];
    chat.messages$.pipe(takeUntil(leave)).subscribe((n) => {
      first.push(n);
      leave.next(); // the only subscriber leaves while the socket hands it the held frames...
      chat.messages$.subscribe((m) => next.push(m)); // ...and another takes over at once
    });
    t.ws.receive('4');
    expect([first, next]).toEqual([[1], [2, 3, 4]]);
  });

  it('a subscriber that comes during a delivery starts with the next frame', () => {
    const t = testSocket(scheduler);
    const chat = typed(t.socket, json<number>());
    t.ws.receive('1'); // held, so the first subscriber gets it while it subscribes
    const late: number[] = [];
    chat.messages$.pipe(take(1)).subscribe(() => chat.messages$.subscribe((n) => late.push(n)));
    t.ws.receive('2');
    expect(late).toEqual([2]);
  });

  it("errors$ lets go of the socket's errors$ when its subscriber leaves, though that never completes", () => {
    let watching = 0;
    const socketErrors = new Subject<RxjsWsError>();
    const like: FrameSocket = {
      messages$: new Subject<Inbound>(),
      errors$: new Observable<RxjsWsError>((s) => {
        watching++;
        const sub = socketErrors.subscribe(s);
        return () => (watching--, sub.unsubscribe());
      }),
      close$: new Subject<CloseInfo>(),
      next: () => {},
      send: () => {},
      error: () => {},
      complete: () => {},
      close: () => {},
    };
    const chat = typed(like, json<unknown>());
    const codes: string[] = [];
    const all = chat.errors$.subscribe((e) => codes.push(e.code));
    chat.errors$.pipe(take(1)).subscribe();
    expect(watching).toBe(2);
    chat.next(1n);
    expect(watching).toBe(1);
    all.unsubscribe();
    expect(watching).toBe(0);
    chat.next(1n);
    socketErrors.next(new SocketClosedError(null));
    expect(codes).toEqual(['RXJS_WS_ENCODE_FAILED']);
  });

  it('reports an encode failure to the sender and keeps the socket open', () => {
    const t = testSocket(scheduler);
    const chat = typed(t.socket, json<unknown>());
    const errors: RxjsWsError[] = [];
    chat.errors$.subscribe((e) => errors.push(e));
    chat.next(circular());
    chat.next(1n);
    expect(errors.map((e) => [e.constructor, e.message])).toEqual([
      [EncodeError, expect.stringMatching(/^Could not encode the value: Converting circular structure to JSON/)],
      [EncodeError, 'Could not encode the value: Do not know how to serialize a BigInt'],
    ]);
    expect(() => chat.send(circular())).toThrow(EncodeError);
    chat.send({ ok: true });
    expect(t.ws.sent).toEqual([{ data: '{"ok":true}', binary: false }]);
    expect(t.socket.state).toBe('open');
    expect(t.socket.stats).toMatchObject({ sent: 1, refused: 0 });
  });

  it("sends a codec's kind: binary stays binary; a codec that breaks its kind is an EncodeError", () => {
    const t = testSocket(scheduler);
    typed(t.socket, readings).send({ sensor: 1, value: 2 });
    expect(t.ws.sent[0]!.binary).toBe(true);
    const liar = { kind: 'text', encode: () => Buffer.from('x'), decode: String } as unknown as Codec<string>;
    expect(() => typed(t.socket, liar).send('x')).toThrow('Could not encode the value: A text codec must encode to a string, got');
    expect(() => typed(t.socket, readings).send({ sensor: -1, value: 0 })).toThrow(EncodeError);
  });

  it("passes the socket's errors, close$ and close on; complete() and error() close like the socket", () => {
    scheduler.run(({ cold, expectObservable }) => {
      const t = testSocket(scheduler);
      const chat = typed(t.socket, json<string>());
      cold('-a-|').subscribe(chat);
      cold('----x').subscribe(() => chat.next('late')); // refused, and reported: errors$ outlives the close
      t.expectSent('-a-(c|)', { a: '"a"', c: { close: 1000 } });
      expectObservable(chat.close$).toBe('---(c|)', { c: { code: 1000, reason: '', wasClean: true } });
      expectObservable(chat.errors$.pipe(map((e) => e.code))).toBe('----e', { e: 'RXJS_WS_SOCKET_CLOSED' });
      expect(chat.socket).toBe(t.socket);
    });
    const t = testSocket(scheduler, { answerClose: false });
    const chat = typed(t.socket, json());
    const errors: RxjsWsError[] = [];
    chat.errors$.subscribe((e) => errors.push(e));
    chat.close(4000, 'bye');
    chat.next('refused');
    expect(t.ws.closeSent).toEqual({ code: 4000, reason: 'bye' });
    expect(errors[0]).toBeInstanceOf(SocketClosedError);
    const u = testSocket(scheduler);
    typed(u.socket, json()).error(new Error('secret'));
    expect(u.ws.closeSent).toEqual({ code: CloseCode.INTERNAL_ERROR, reason: '' });
  });

  it('works over anything shaped like a socket, and lets go of it', () => {
    const frames = new Subject<Inbound>();
    let subscribed = 0;
    const sent: Outbound[] = [];
    const like: FrameSocket = {
      messages$: new Observable<Inbound>((s: Subscriber<Inbound>) => {
        subscribed++;
        const sub = frames.subscribe(s);
        return () => (subscribed--, sub.unsubscribe());
      }),
      errors$: new Subject<RxjsWsError>(),
      close$: new Subject<CloseInfo>(),
      next: (frame) => sent.push(frame),
      send: (frame) => sent.push(frame),
      error: () => {},
      complete: () => {},
      close: () => {},
    };
    const chat = typed(like, lengthPrefixed);
    const got: string[][] = [];
    const a = chat.messages$.subscribe((parts) => got.push(parts));
    const b = chat.messages$.subscribe();
    expect(subscribed).toBe(1);
    chat.next(['héllo', '', 'x']);
    frames.next(sent[0] as Buffer);
    expect(got).toEqual([['héllo', '', 'x']]);
    a.unsubscribe();
    b.unsubscribe();
    expect(subscribed).toBe(0);
  });

  it('checks its arguments when called', () => {
    const { socket } = testSocket(scheduler);
    expect(() => typed(null as never, json())).toThrow('Expected `socket` to be an RxSocket or alike, got `null` (null)');
    expect(() => typed(socket, {} as never)).toThrow(InvalidArgumentError);
    expect(() => typed(socket, { ...json(), kind: 'blob' } as never)).toThrow(/Expected `codec.kind` to be one of "text", "binary"/);
    expect(() => typed(socket, json(), { invalid: 'ignore' as never })).toThrow('Expected `options.invalid` to be one of "close", "skip", got `"ignore"` (string)');
  });

  it('property: under skip, the good frames come out in order and each bad one is one DecodeError', () => {
    const frame = fc.oneof(
      fc.array(fc.string(), { maxLength: 4 }).map((parts) => ({ ok: true, parts, raw: lengthPrefixed.encode(parts) as Inbound })),
      fc.oneof(fc.string(), fc.uint8Array({ minLength: 1, maxLength: 3 }).map((b) => Buffer.from(b))).map((raw) => ({ ok: false, parts: [], raw })),
    );
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 20 }), (frames) => {
        const t = testSocket(scheduler);
        const chat = typed(t.socket, lengthPrefixed, { invalid: 'skip' });
        const got: string[][] = [];
        let errors = 0;
        chat.messages$.subscribe({ next: (parts) => got.push(parts), error: () => {} });
        chat.errors$.subscribe(() => errors++);
        for (const f of frames) t.ws.receive(f.raw as string | Buffer);
        expect(got).toEqual(frames.filter((f) => f.ok).map((f) => f.parts));
        expect(errors).toBe(frames.filter((f) => !f.ok).length);
        t.socket.terminate();
      }),
    );
  });
});

describe('decode() and encode() operators', () => {
  it('decode skips a frame that does not decode and goes on; onInvalid gets its DecodeError', () => {
    const positive = (v: unknown): v is number => {
      if (v === 0) throw new RangeError('zero'); // a guard that throws refuses the frame as one that returns false
      return typeof v === 'number' && v > 0;
    };
    const skipped: DecodeError[] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const frames = cold('-a-x-y-z-b|', { a: '1', x: '{', y: '-1', z: '0', b: '2' });
      expectObservable(frames.pipe(decode(json({ guard: positive })))).toBe('-a-------b|', { a: 1, b: 2 });
      expectObservable(frames.pipe(decode(json({ guard: positive }), { onInvalid: (e) => skipped.push(e) }))).toBe('-a-------b|', { a: 1, b: 2 });
    });
    expect(skipped.map((e) => [e.constructor, e.code, e.frame, (e.cause as Error).name])).toEqual([
      [DecodeError, 'RXJS_WS_DECODE_FAILED', '{', 'SyntaxError'],
      [DecodeError, 'RXJS_WS_DECODE_FAILED', '-1', 'TypeError'],
      [DecodeError, 'RXJS_WS_DECODE_FAILED', '0', 'RangeError'],
    ]);
  });

  it('a bad frame from the peer cannot crash a handler that has no error callback', () => {
    const got: number[] = [];
    scheduler.run(() => {
      const t = testSocket(scheduler);
      t.socket.messages$.pipe(decode(json<number>())).subscribe((n) => got.push(n));
      t.inbound('-a-x-y-b-|', { a: '1', x: 'not json', y: Buffer.from('2'), b: '3' });
    });
    expect(got).toEqual([1, 3]);
    expect(escaped).toEqual([]);
  });

  it('a throw from onInvalid errors the output (and lets go of the source) rather than escaping', () => {
    const boom = new Error('onInvalid failed');
    const fail = () => {
      throw boom;
    };
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const frames = cold('-a-x-b|', { a: '1', x: '{', b: '2' });
      expectObservable(frames.pipe(decode(json<number>(), { onInvalid: fail }))).toBe('-a-#', { a: 1 }, boom);
      expectSubscriptions(frames.subscriptions).toBe('^--!');
      const values = cold('-a-x-b|', { a: 1 as unknown, x: 1n, b: 'b' });
      expectObservable(values.pipe(encode(json<never, unknown>(), { onInvalid: fail }))).toBe('-a-#', { a: '1' }, boom);
      expectSubscriptions(values.subscriptions).toBe('^--!');
    });
    expect(escaped).toEqual([]);
  });

  it('encode errors on a value it cannot encode by default, and skips it with onInvalid', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const values = cold('-a-x-b|', { a: 1 as unknown, x: 1n, b: 'b' });
      expectObservable(values.pipe(encode(json<never, unknown>()))).toBe('-a-#', { a: '1' }, new EncodeError({ cause: new TypeError('Do not know how to serialize a BigInt') }));
      const skipped: EncodeError[] = [];
      expectObservable(values.pipe(encode(json<never, unknown>(), { onInvalid: (e) => skipped.push(e) }))).toBe('-a---b|', { a: '1', b: '"b"' });
      scheduler.schedule(() => expect(skipped.map((e) => [e.constructor, e.message])).toEqual([[EncodeError, 'Could not encode the value: Do not know how to serialize a BigInt']]), 10);
    });
  });

  it('round-trips through a binary codec', () => {
    fc.assert(
      fc.property(fc.array(fc.string()), (parts) => {
        let out: string[] | undefined;
        new Observable<string[]>((s) => s.next(parts))
          .pipe(encode(lengthPrefixed), map((f) => f as Buffer), decode(lengthPrefixed))
          .subscribe((p) => (out = p));
        expect(out).toEqual(parts);
      }),
    );
  });

  it('checks its arguments when called', () => {
    expect(() => decode({} as never)).toThrow(InvalidArgumentError);
    expect(() => encode(json(), { onInvalid: 'log' as never })).toThrow('Expected `config.onInvalid` to be a function, got `"log"` (string)');
  });
});

describe('docs/codecs.md: operators, as written there', () => {
  interface ChatIn {
    readonly text: string;
  }
  interface Update {
    readonly n: number;
  }
  const isChatIn = (v: unknown): v is ChatIn => typeof (v as ChatIn | null)?.text === 'string';

  it('skips a bad frame and closes with 1007 through onInvalid; skips and reports a value it cannot encode', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    const error = jest.spyOn(console, 'error').mockImplementation(() => {});
    const rendered: ChatIn[] = [];
    const render = (m: ChatIn) => rendered.push(m);
    try {
      scheduler.run(({ cold }) => {
        const t = testSocket(scheduler);
        const socket = t.socket;
        const updates$ = cold('-a-x-b', { a: { n: 1 }, x: { n: 1n } as unknown as Update, b: { n: 2 } });

        socket.messages$
          .pipe(decode(json<ChatIn>({ guard: isChatIn }), { onInvalid: (e) => socket.close(CloseCode.INVALID_PAYLOAD, e.message) }))
          .subscribe({
            next: render,
            error: (e) => console.error('messages failed:', e), // only if onInvalid throws
          });

        updates$
          .pipe(encode(json<Update>(), { onInvalid: (e) => console.warn('not sent:', e.message) }))
          .subscribe({
            next: (frame) => socket.next(frame),
            error: (e) => console.error('updates$ failed:', e),
          });

        t.inbound('--a---x-b', { a: '{"text":"hi"}', x: '{"txt":"hi"}', b: '{"text":"too late"}' });
        t.expectSent('-a---b(c|)', { a: '{"n":1}', b: '{"n":2}', c: { close: CloseCode.INVALID_PAYLOAD, reason: 'Could not decode a text frame of 12 bytes' } });
      });
      expect(rendered).toEqual([{ text: 'hi' }]);
      expect(warn.mock.calls).toEqual([['not sent:', 'Could not encode the value: Do not know how to serialize a BigInt']]);
      expect(error).not.toHaveBeenCalled();
      expect(escaped).toEqual([]);
    } finally {
      warn.mockRestore();
      error.mockRestore();
    }
  });
});
