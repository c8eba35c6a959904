/**
 * {@linkcode deadline}: a promise that gives up after a number of seconds.
 *
 * @module
 */

import { AiomasError } from "../errors.ts";

/**
 * Race `promise` against a deadline of `seconds`; the timer is always
 * cleared. On expiry it rejects with `onTimeout()`, or with an `AiomasError`
 * saying that `onTimeout` (a description) did not happen in time. `promise`
 * itself goes on: close what it may still produce.
 */
export function deadline<T>(
  promise: Promise<T>,
  seconds: number,
  onTimeout: string | (() => Error),
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          typeof onTimeout === "string"
            ? new AiomasError(`${onTimeout} did not happen within ${seconds} s`)
            : onTimeout(),
        ),
      seconds * 1000,
    );
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
