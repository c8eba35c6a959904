/**
 * {@linkcode Request}: a request received on a channel, answered once.
 *
 * @module
 */

import { AiomasError } from "../errors.ts";
import type { Channel } from "./channel.ts";

/**
 * `msg_type` of a request.
 *
 * @example
 * ```ts
 * import { EXCEPTION, REQUEST, RESULT } from "@aiomas/aiomas/channel";
 * console.log(REQUEST, RESULT, EXCEPTION); // 0 1 2
 * ```
 */
export const REQUEST = 0;
/**
 * `msg_type` of a successful reply.
 *
 * @example
 * ```ts
 * import { RESULT } from "@aiomas/aiomas/channel";
 * console.log(RESULT); // 1
 * ```
 */
export const RESULT = 1;
/**
 * `msg_type` of a failed reply.
 *
 * @example
 * ```ts
 * import { EXCEPTION } from "@aiomas/aiomas/channel";
 * console.log(EXCEPTION); // 2
 * ```
 */
export const EXCEPTION = 2;

/**
 * A request received from the peer. Answer it once, with
 * {@linkcode Request.reply} or {@linkcode Request.fail}: until it is
 * answered, it counts against the channel's `maxConcurrentRequests`.
 *
 * @example
 * ```ts ignore
 * for await (const request of channel) {
 *   if (request.content === "ohai") request.reply("cya");
 *   else request.fail(new Error(`unknown greeting ${request.content}`));
 * }
 * ```
 */
export class Request {
  #channel: Channel;
  #id: number;
  #answered = false;
  #weight: number;
  #lease: ArrayBuffer | undefined;
  /** The decoded content of the request. */
  readonly content: unknown;

  /**
   * Made by the channel for every incoming request; `weight` is what it
   * counts against the server's buffer budget until answered; `lease`: the
   * read memory the content's views are into, recycled once answered
   * (`recycleReadBuffers`).
   */
  constructor(
    channel: Channel,
    id: number,
    content: unknown,
    weight = 0,
    lease?: ArrayBuffer,
  ) {
    this.#channel = channel;
    this.#weight = weight;
    this.#lease = lease;
    this.#id = id;
    this.content = content;
  }

  /** The request's id on its connection (the peer's counter). */
  get id(): number {
    return this.#id;
  }

  /** The channel the request came in on. */
  get channel(): Channel {
    return this.#channel;
  }

  /**
   * Send `value` as the result. If it cannot be encoded, the peer gets an
   * `EXCEPTION` naming the encoding error instead. Resolves once written.
   */
  reply(value: unknown): Promise<void> {
    this.#markAnswered();
    return this.#channel._answer(RESULT, this.#id, value, this.#weight, this.#lease);
  }

  /** Send `error` to the peer as an `EXCEPTION` with a traceback-like text. */
  fail(error: unknown): Promise<void> {
    this.#markAnswered();
    return this.#channel._answer(
      EXCEPTION,
      this.#id,
      this.#channel._traceback(error),
      this.#weight,
      this.#lease,
    );
  }

  #markAnswered(): void {
    if (this.#answered) throw new AiomasError(`Request ${this.#id} was already answered`);
    this.#answered = true;
  }
}
