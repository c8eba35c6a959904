/**
 * Agents for the command line tests (tests/cli_test.ts).
 *
 * @module
 */

import { Agent, type Container, expose } from "../../mod.ts";

/** A sub-service, reached as `sub/<name>`. */
class Sub {
  @expose
  double(x: number): number {
    return 2 * x;
  }
}

/** Exercises what `aiomas call` prints. */
export class Probe extends Agent {
  @expose
  sub: Sub = new Sub();

  @expose
  add(a: number, b: number): number {
    return a + b;
  }

  /** Echo the positional arguments and the keyword arguments. */
  @expose
  echo(...args: unknown[]): unknown[] {
    return args;
  }

  @expose
  fail(message: string): never {
    throw new RangeError(message);
  }

  @expose
  async slow(seconds: number): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return "done";
  }

  /** Values that JSON cannot print as they are (MsgPack only). */
  @expose
  odd(): unknown {
    return { big: 2n ** 60n + 1n, bytes: new Uint8Array([1, 2, 255]), date: new Date(0) };
  }

  @expose
  now(): Date {
    return this.container.clock.utcnow();
  }
}

/** The default export; made through the static `create()` factory. */
export default class Greeter extends Agent {
  constructor(container: Container, readonly greeting: string) {
    super(container);
  }

  static create(container: Container): Promise<Greeter> {
    return Promise.resolve(new Greeter(container, "Hi"));
  }

  @expose
  greet(name: string): string {
    return `${this.greeting}, ${name}!`;
  }
}

/** Not an agent. */
export const notAClass = 42;

/** An agent whose constructor throws. */
export class Broken extends Agent {
  constructor(container: Container) {
    super(container);
    throw new Error("broken on purpose");
  }
}
