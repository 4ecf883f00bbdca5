import { filter, map, type OperatorFunction } from 'rxjs';
import { decodeFrame, encodeValue, expectCodec, type Codec } from './codec';
import { DecodeError, EncodeError } from '../errors';
import type { Message } from '../types';
import { expectFunction, expectObject } from '../validation';

// decode() and encode() are mirror images of each other: one file keeps them in step.
// Both are map() (+ filter()), so that RxJS itself routes any throw, the codec's or
// onInvalid's, to the output's error instead of reporting it as unhandled.

/** Options of {@link decode} and {@link encode}. */
export interface CodecConfig<E> {
  /**
   * Called with the error of each value that fails; that value is skipped
   * and the stream goes on. A throw from it errors the output.
   */
  readonly onInvalid?: (error: E) => void;
}

// Stands for a skipped value between map() and filter(): a symbol, so no T can be taken for it,
// and a frame that decodes costs no allocation.
const SKIP: unique symbol = Symbol('skipped');
const kept = <T>(value: T | typeof SKIP): value is T => value !== SKIP;

/**
 * Decodes frames with `codec`, for pipelines you compose yourself. A frame
 * that does not decode is skipped, so nothing a peer sends can error the
 * stream; `config.onInvalid` gets its `DecodeError` (to log, count, or close
 * the socket). Each subscription decodes on its own: for one view of the
 * socket that decodes once, reports on `errors$` and closes with 1007, use
 * `typed()`.
 *
 * @example
 * socket.messages$
 *   .pipe(decode(json<Chat>({ guard: isChat }), { onInvalid: (e) => socket.close(CloseCode.INVALID_PAYLOAD, e.message) }))
 *   .subscribe({ next: render, error: (e) => log(e) }); // error: the socket ended abnormally, or onInvalid threw
 */
export function decode<T>(codec: Codec<T, never>, config: CodecConfig<DecodeError> = {}): OperatorFunction<Message, T> {
  expectCodec('codec', codec);
  const onInvalid = expectConfig(config);
  return (source) =>
    source.pipe(
      map((frame) => {
        try {
          return decodeFrame(codec, frame);
        } catch (error) {
          if (!(error instanceof DecodeError)) throw error; // not a frame at all: a bug upstream
          onInvalid?.(error);
          return SKIP;
        }
      }),
      filter(kept),
    );
}

/**
 * Encodes values with `codec` into frames of its kind. A value it cannot
 * encode (your own, not a peer's) errors the output with its `EncodeError`,
 * unless `config.onInvalid` is given: then that gets the error and the value
 * is skipped. Mind that an error reaching a socket closes it (1011); `typed()`
 * reports such values on `errors$` instead.
 *
 * @example
 * updates$
 *   .pipe(encode(json<Update>(), { onInvalid: (e) => log(e) }))
 *   .subscribe({ next: (frame) => socket.next(frame), error: (e) => log(e) });
 */
export function encode<U>(codec: Codec<unknown, U>, config: CodecConfig<EncodeError> = {}): OperatorFunction<U, string | Uint8Array> {
  expectCodec('codec', codec);
  const onInvalid = expectConfig(config);
  if (onInvalid === undefined) return map((value) => encodeValue(codec, value));
  return (source) =>
    source.pipe(
      map((value) => {
        try {
          return encodeValue(codec, value);
        } catch (error) {
          if (!(error instanceof EncodeError)) throw error;
          onInvalid(error);
          return SKIP;
        }
      }),
      filter(kept),
    );
}

function expectConfig<E>(config: CodecConfig<E>): ((error: E) => void) | undefined {
  const { onInvalid } = expectObject('config', config);
  if (onInvalid !== undefined) expectFunction('config.onInvalid', onInvalid);
  return onInvalid as ((error: E) => void) | undefined;
}
