/**
 * The error classes of aiomas. Every error the library raises on purpose is an
 * {@linkcode AiomasError}, so `err instanceof AiomasError` separates library
 * errors from bugs in user code.
 *
 * @example Telling a remote failure from a lost connection
 * ```ts
 * import { ConnectionError, RemoteException } from "@aiomas/aiomas";
 *
 * function explain(err: unknown): string {
 *   if (err instanceof RemoteException) return `peer ${err.origin} failed`;
 *   if (err instanceof ConnectionError) return "connection lost";
 *   return "bug";
 * }
 * console.log(explain(new ConnectionError("closed")));
 * ```
 *
 * @module
 */

/**
 * Base class for all errors raised by aiomas.
 *
 * @example
 * ```ts
 * import { AiomasError } from "@aiomas/aiomas";
 * console.log(new AiomasError("oops") instanceof Error); // true
 * ```
 */
export class AiomasError extends Error {
  /** Create an error with a message that tells the user what to do. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A request failed on the peer: the peer's handler threw or rejected, or the
 * path named nothing it exposes.
 *
 * @example
 * ```ts
 * import { RemoteException } from "@aiomas/aiomas";
 * const err = new RemoteException("tcp://127.0.0.1:5555", "ValueError: boom\n");
 * console.log(err.remoteType, err.remoteMessage); // ValueError boom
 * ```
 */
export class RemoteException extends AiomasError {
  /** The address of the peer that sent the error. */
  readonly origin: string;
  /** The traceback-like text the peer sent (its last line is `Type: message`). */
  readonly remoteTraceback: string;
  /** The remote error's type name, such as `TypeError` or `LookupError`. */
  readonly remoteType: string;
  /** The remote error's message, without its type name. */
  readonly remoteMessage: string;

  /** Wrap the text of an `EXCEPTION` frame received from `origin`. */
  constructor(origin: string, remoteTraceback: string) {
    const last = lastLine(remoteTraceback);
    super(`${last} (raised by ${origin})\n\nRemote traceback:\n${remoteTraceback}`);
    this.origin = origin;
    this.remoteTraceback = remoteTraceback;
    const colon = last.indexOf(":");
    this.remoteType = colon < 0 ? last : last.slice(0, colon);
    this.remoteMessage = colon < 0 ? "" : last.slice(colon + 1).trim();
  }
}

function lastLine(text: string): string {
  const lines = text.trimEnd().split("\n");
  // A JS stack puts "Type: message" first and "    at ..." lines after it.
  const typeLine = lines.findLast((line) => /^[\w.$]+(: |:$|$)/.test(line));
  return typeLine ?? lines.at(-1) ?? "";
}

/**
 * A connection was refused, reset or closed, so a request cannot be sent or
 * its reply will never come; also raised by `container.connect()` when the
 * container at the address has no agent with that id.
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@aiomas/aiomas";
 * const err = new ConnectionError("Connection to tcp://127.0.0.1:1 refused");
 * console.log(err.name); // ConnectionError
 * ```
 */
export class ConnectionError extends AiomasError {}

/**
 * An address cannot be used where it was given: it cannot be listened on
 * (in use, no such directory, not an address of this machine, no
 * permission), its host name does not resolve, or it has the wrong form
 * (a container address with an agent id, an agent address without one).
 * The message names the address and says what to do.
 *
 * @example
 * ```ts
 * import { AddressError, Container } from "@aiomas/aiomas";
 * try {
 *   await Container.create("tcp://127.0.0.1:0/5");
 * } catch (error) {
 *   console.log(error instanceof AddressError); // true
 * }
 * ```
 */
export class AddressError extends AiomasError {}

/**
 * Bytes could not be encoded or decoded by a codec. Decoding errors name the
 * byte offset where the input went wrong.
 *
 * @example
 * ```ts
 * import { CodecError } from "@aiomas/aiomas";
 * console.log(new CodecError("truncated input at offset 3").message);
 * ```
 */
export class CodecError extends AiomasError {}

/**
 * A peer broke the wire protocol: an oversized frame, a payload that is not a
 * `[type, id, content]` triple, an unknown message type or a reply to an
 * unknown request id. The channel closes the connection.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "@aiomas/aiomas";
 * console.log(new ProtocolError("frame of 99 bytes exceeds maxMessageSize").name);
 * ```
 */
export class ProtocolError extends AiomasError {}

/**
 * A path named no exposed member of a service. Sent to the caller as a
 * Python-style `LookupError` so that Python aiomas peers read it as theirs.
 *
 * @example
 * ```ts
 * import { NotExposedError } from "@aiomas/aiomas";
 * console.log(new NotExposedError('Name "nope" not found in "agents/0"').name);
 * ```
 */
export class NotExposedError extends AiomasError {}

/**
 * A call took longer than its deadline. The late reply, if it comes, is dropped.
 *
 * @example
 * ```ts
 * import { TimeoutError } from "@aiomas/aiomas";
 * console.log(new TimeoutError("call to add timed out after 1 s").name);
 * ```
 */
export class TimeoutError extends AiomasError {}

/**
 * A caller may not do what it asked: for example a connection that did not
 * authenticate calls a Manager's `spawn`, `setTime` or `stop`. The message
 * says how to get access.
 *
 * @example
 * ```ts
 * import { AccessError } from "@aiomas/aiomas";
 * console.log(new AccessError("call authenticate(token) first").name); // AccessError
 * ```
 */
export class AccessError extends AiomasError {}
