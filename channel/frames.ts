/**
 * Frame payloads, and what an oversized frame header most likely is
 * (queued frames are written by `output.ts`).
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";

/** Payloads and pieces larger than this are written from their own buffer, not copied into a batch. */
export const DIRECT_WRITE_SIZE = 256 * 1024;

/**
 * A frame's payload: one buffer, or pieces written one after another (a
 * codec's `encodeParts`).
 */
export type Payload = Uint8Array | readonly Uint8Array[];

/** The byte length of `payload`. */
export function payloadSize(payload: Payload): number {
  if (!Array.isArray(payload)) return (payload as Uint8Array).length;
  let size = 0;
  for (const piece of payload) size += piece.length;
  return size;
}

const HTTP_STARTS = ["GET ", "POST", "PUT ", "HEAD", "HTTP", "DELE", "OPTI", "PATC", "CONN"];

/**
 * The error for a frame header announcing `size` bytes, more than `max`:
 * says so, and names what the peer more likely speaks when the four bytes
 * look like HTTP or a TLS handshake.
 */
export function frameTooLarge(header: Uint8Array, size: number, max: number): ProtocolError {
  const text = String.fromCharCode(header[0]!, header[1]!, header[2]!, header[3]!);
  if (HTTP_STARTS.includes(text)) {
    return new ProtocolError(
      `The peer speaks HTTP (it sent "${text.trim()} ..."), but this port speaks aiomas ` +
        "framing (a 4-byte length, then a codec payload): connect with an aiomas client, " +
        "not a web browser or HTTP client",
    );
  }
  if (header[0] === 0x16 && header[1] === 0x03) {
    return new ProtocolError(
      "The peer started a TLS handshake, but this port speaks plain aiomas framing: " +
        "give both sides the same `tls` option",
    );
  }
  return new ProtocolError(
    `Frame of ${size} bytes exceeds maxMessageSize (${max}); raise the maxMessageSize ` +
      "option on both peers if such messages are expected",
  );
}
