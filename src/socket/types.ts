export type { CloseInfo, Outbound } from '../types';

/** An inbound frame of a Node socket: a text frame is a `string`, a binary frame a `Buffer`. */
export type Inbound = string | Buffer;
