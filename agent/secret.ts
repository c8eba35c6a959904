/**
 * Shared secrets: the tokens of a Manager's `{ token }` access and of a live
 * view's `inspectToken`.
 *
 * @module
 */

import { timingSafeEqual } from "node:crypto";

/** The shortest token a Manager accepts (see `ManagerAccess`). */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Whether `given` equals `secret`, compared in a time that does not depend
 * on where they differ (so a peer cannot guess a token byte by byte).
 */
export function sameSecret(given: string, secret: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}
