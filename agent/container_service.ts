/**
 * {@linkcode ContainerService}: the root service a container serves on every
 * connection, with the paths Python aiomas uses (`agents/<aid>/...`,
 * `validate_aid`).
 *
 * @module
 */

import { expose } from "../rpc/expose.ts";
import type { Agent } from "./agent.ts";

/** The root service of a container, as Python aiomas exposes it. */
export class ContainerService {
  /** The container's agents by id; a call to `agents/<aid>/m` reaches agent `aid`'s `m`. */
  @expose
  agents: Map<string, Agent> = new Map();

  /** The class name of agent `aid`, or `null` if there is no such agent. */
  @expose
  validate_aid(aid: unknown): string | null {
    // An id typed as a number (`validate_aid 1` on the command line) means the id "1".
    const id = Number.isSafeInteger(aid) && (aid as number) >= 0 ? String(aid) : aid;
    return (typeof id === "string" && this.agents.get(id)?.constructor.name) || null;
  }
}
