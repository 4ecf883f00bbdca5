import { Observable, type OperatorFunction } from 'rxjs';
import { decodeFrame, encodeValue, expectCodec, type Codec } from './codec';
import type { DecodeError, EncodeError } from '../errors';
import type { Inbound } from '../socket/types';
import { expectFunction, expectObject } from '../validation';

// decode() and encode() are mirror images of each other: one file keeps them in step.

/** Options of {@link decode} and {@link encode}. */
export interface CodecConfig<E> {
  /**
   * Called with the error of each value that fails; that value is skipped and
   * the stream goes on. Without it, the output errors with the `DecodeError`
   * (or `EncodeError`), as any operator that throws does.
   */
  readonly onInvalid?: (error: E) => void;
}

/**
 * Decodes frames with `codec`, for pipelines you compose yourself. Each
 * subscription decodes on its own: to decode once for many subscribers (and
 * close the socket on a bad frame), use `typed()`.
 *
 * @example
 * socket.messages$.pipe(decode(json<Chat>(), { onInvalid: (e) => log(e.message) })).subscribe(render);
 */
export function decode<T>(codec: Codec<T, never>, config: CodecConfig<DecodeError> = {}): OperatorFunction<Inbound, T> {
  expectCodec('codec', codec);
  const onInvalid = expectConfig(config);
  return (source) =>
    new Observable<T>((subscriber) =>
      source.subscribe({
        next: (frame) => {
          let value: T;
          try {
            value = decodeFrame(codec, frame);
          } catch (error) {
            if (onInvalid === undefined) return subscriber.error(error);
            return onInvalid(error as DecodeError);
          }
          subscriber.next(value);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}

/**
 * Encodes values with `codec` into frames of its kind. Mind that an error
 * reaching a socket closes it (1011): pass `onInvalid` to skip the values
 * that fail instead, or send through `typed()`, which never closes for them.
 *
 * @example
 * updates$.pipe(encode(json<Update>(), { onInvalid: report })).subscribe((frame) => socket.next(frame));
 */
export function encode<U>(codec: Codec<unknown, U>, config: CodecConfig<EncodeError> = {}): OperatorFunction<U, string | Uint8Array> {
  expectCodec('codec', codec);
  const onInvalid = expectConfig(config);
  return (source) =>
    new Observable<string | Uint8Array>((subscriber) =>
      source.subscribe({
        next: (value) => {
          let frame: string | Uint8Array;
          try {
            frame = encodeValue(codec, value);
          } catch (error) {
            if (onInvalid === undefined) return subscriber.error(error);
            return onInvalid(error as EncodeError);
          }
          subscriber.next(frame);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}

function expectConfig<E>(config: CodecConfig<E>): ((error: E) => void) | undefined {
  const { onInvalid } = expectObject('config', config);
  if (onInvalid !== undefined) expectFunction('config.onInvalid', onInvalid);
  return onInvalid as ((error: E) => void) | undefined;
}
