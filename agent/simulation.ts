/**
 * {@linkcode Simulation}: one simulated time across containers, stepped from
 * event to event, each step ending once the whole system is quiescent.
 *
 * @module
 */

import { AiomasError } from "../errors.ts";
import {
  activityOf,
  type LinkDelays,
  type SimStatus,
  type SimStatusDetail,
  waitFor,
} from "./activity.ts";
import { Container } from "./container.ts";
import { deadline as withDeadline } from "./deadline.ts";
import { Manager } from "./manager.ts";

/**
 * What a {@linkcode Simulation} steers: a Manager proxy (`handle.manager` of
 * `spawnWorkerContainer()` or `spawnProcessContainer()`, or a proxy from
 * `connect()`), a local {@linkcode Manager}, or a local {@linkcode Container};
 * each runs on an `ExternalClock`.
 */
export type SimulationMember =
  | Container
  | Manager
  | {
    simStatus(detail?: boolean): Promise<SimStatus | SimStatusDetail>;
    simPrepare(t: number): Promise<void>;
    simSetTime(t: number): Promise<SimStatus>;
    simDelays?(delays: LinkDelays): Promise<void>;
  };

/** Options of {@linkcode Simulation}. */
export interface SimulationOptions {
  /**
   * Seconds a step may take until it is quiescent (default `30`); then it
   * rejects with a {@linkcode SimulationTimeoutError} that says what is
   * still busy.
   */
  timeout?: number | undefined;
  /**
   * Simulated delays of the links between members, in seconds of clock time
   * (default: none). A call from an agent in container A to an agent in
   * container B then leaves A after the delay of the link A -> B and its
   * reply is handed over after the same delay again, both on A's clock. Set
   * on every member before the first step.
   */
  linkDelays?: LinkDelays | undefined;
}

/** What one member reported when a step timed out. */
export type SimulationMemberReport = SimStatusDetail | { addr: string; error: string };

/**
 * A {@linkcode Simulation} step did not become quiescent in time. `members`
 * says, per container, what was still busy: open calls by path, open
 * handlers (running, sleeping until a time, or waiting for calls) and
 * pending timers; or why the container did not answer.
 *
 * @example
 * ```ts
 * import { SimulationTimeoutError } from "@aiomas/aiomas/agent";
 * const error = new SimulationTimeoutError("step to 10 timed out", 10, []);
 * console.log(error.name, error.time); // SimulationTimeoutError 10
 * ```
 */
export class SimulationTimeoutError extends AiomasError {
  /** The time the step was going to. */
  readonly time: number;
  /** What each member reported (or why it did not). */
  readonly members: readonly SimulationMemberReport[];

  /** Make the error; the Simulation builds `message` from `members`. */
  constructor(message: string, time: number, members: readonly SimulationMemberReport[]) {
    super(message);
    this.name = "SimulationTimeoutError";
    this.time = time;
    this.members = members;
  }
}

/** How a Simulation talks to one member. */
interface Probe {
  name: string;
  status(detail: boolean): Promise<SimStatus | SimStatusDetail>;
  prepare(t: number): Promise<void>;
  setTime(t: number): Promise<SimStatus>;
  setDelays(delays: LinkDelays): Promise<void>;
}

function probeOf(member: SimulationMember, index: number): Probe {
  if (member instanceof Container || member instanceof Manager) {
    const container = member instanceof Container ? member : member.container;
    const activity = activityOf(container);
    return {
      name: container.addr,
      status: (detail) => activity.status(detail),
      prepare: (t) => Promise.try(() => activity.prepare(t)),
      setTime: async (t) => {
        activity.setTime(t);
        return await activity.status();
      },
      setDelays: (delays) => Promise.try(() => activity.setDelays(delays)),
    };
  }
  if (
    typeof member?.simStatus !== "function" || typeof member?.simPrepare !== "function" ||
    typeof member?.simSetTime !== "function"
  ) {
    throw new TypeError(
      `Simulation member ${index} is neither a Container, a Manager nor a Manager proxy: pass ` +
        "local containers or managers, handle.manager of a spawned container, or a proxy " +
        'from connect() to a Manager (agent "0" of a managed container)',
    );
  }
  return {
    name: `member ${index}`,
    status: (detail) => member.simStatus(detail),
    prepare: (t) => member.simPrepare(t),
    setTime: (t) => member.simSetTime(t),
    setDelays: (delays) => {
      if (typeof member.simDelays !== "function") {
        return Promise.reject(
          new TypeError(
            `Simulation member ${index} has no simDelays(), so it cannot take linkDelays: ` +
              "run it with this version of aiomas, or leave linkDelays out",
          ),
        );
      }
      return member.simDelays(delays);
    },
  };
}

/** Whether two waves saw the same counters at every member. */
function sameWave(a: readonly SimStatus[], b: readonly SimStatus[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (
      x.requestsSent !== y.requestsSent || x.requestsReceived !== y.requestsReceived ||
      x.repliesSent !== y.repliesSent || x.repliesReceived !== y.repliesReceived ||
      x.callsOpen !== y.callsOpen || x.handlersOpen !== y.handlersOpen ||
      x.running !== y.running || x.timers !== y.timers || x.next !== y.next
    ) return false;
  }
  return true;
}

/** Whether a wave shows a quiescent system at time `t`. */
function isQuiet(wave: readonly SimStatus[], t: number): boolean {
  let calls = 0, handlers = 0;
  for (const status of wave) {
    if (!status.settled || status.running > 0) return false;
    if (status.next !== null && status.next <= t) return false;
    calls += status.callsOpen;
    handlers += status.handlersOpen;
  }
  return calls === handlers;
}

function earliest(wave: readonly SimStatus[]): number | null {
  let next: number | null = null;
  for (const status of wave) {
    if (status.next !== null && (next === null || status.next < next)) next = status.next;
  }
  return next;
}

/** When a step gives up, and the time it was going to. */
interface Deadline {
  at: number;
  target: number | undefined;
}

/** The rejection of a probe that took too long (never shown: it is caught and replaced). */
const LATE = new AiomasError("a simulation member did not answer in time");

function checkTime(t: number, current: number | undefined): void {
  if (typeof t !== "number" || !Number.isFinite(t)) {
    throw new RangeError(`step(t=${String(t)}): t must be a finite number`);
  }
  if (current !== undefined && t < current) {
    throw new RangeError(`step(${t}) would move the simulation back from time ${current}`);
  }
}

/**
 * Steps containers on `ExternalClock`s through simulated time together: each
 * step sets every member's clock, then waits until the whole system is
 * quiescent at that time, messages in flight between containers included.
 *
 * Quiescent at `t` means: every timer due at or before `t` has fired; every
 * handler of a request, in any member, has replied or waits on the simulated
 * clock or on a call that itself waits; no request or reply is in flight
 * between members; and no member counted a message during its last turn of the
 * event loop. The Simulation checks this with waves of status requests, one
 * per member and wave (see {@linkcode Manager.simStatus}): a step is quiescent
 * once two consecutive waves report the same counters everywhere, every member
 * is settled with no handler running, and the open calls (requests sent whose
 * reply has not arrived) equal the open handlers (requests received whose
 * reply is not sent) summed over all members (Mattern's four-counter method).
 * Before the clocks move, every member learns the step's time (see
 * {@linkcode Manager.simPrepare}). A step in which nothing happens costs
 * three waves (four for {@linkcode Simulation.step}, which first checks that
 * nothing happened since the last step), never a fixed sleep.
 *
 * Members are counted from the moment their container is created. A container
 * that calls into the simulation while it steps must be a member, or the
 * Simulation cannot see its calls. See docs/simulation.md for what is tracked.
 *
 * @example Two containers; an agent in one calls an agent in the other, which sleeps
 * ```ts
 * import { Agent, Container, Simulation } from "@aiomas/aiomas/agent";
 * import { ExternalClock } from "@aiomas/aiomas/clocks";
 * import { expose } from "@aiomas/aiomas/rpc";
 *
 * class Sleeper extends Agent {
 *   @expose
 *   async nap(seconds: number): Promise<number> {
 *     await this.container.clock.sleep(seconds);
 *     return this.container.clock.time();
 *   }
 * }
 * const start = "2016-01-01T00:00:00Z";
 * const a = await Container.create("tcp://127.0.0.1:0", { clock: new ExternalClock(start) });
 * const b = await Container.create("tcp://127.0.0.1:0", { clock: new ExternalClock(start) });
 * const sleeper = new Sleeper(b);
 * const proxy = await a.connect<Sleeper>(sleeper.addr);
 * const woke = proxy.nap(60); // a request in flight from a to b
 *
 * const sim = new Simulation([a, b]);
 * // The request arrives, the sleeper sleeps until 60: the step goes to 60 and
 * // resolves with the next event time, none.
 * console.log(await sim.step()); // null
 * console.log(sim.time, await woke); // 60 60
 * await a.shutdown();
 * await b.shutdown();
 * ```
 */
export class Simulation {
  #probes: Probe[];
  #timeout: number;
  #time: number | undefined;
  #busy = false;
  /** The last wave of the last step, if the simulation was quiescent then. */
  #last: SimStatus[] | undefined;
  /** Link delays still to be sent to the members (before the first step). */
  #delays: LinkDelays | undefined;

  /**
   * Steer `members` (Manager proxies, local Managers, or local Containers,
   * each on an `ExternalClock`).
   *
   * @throws {TypeError} for a member that is none of these, or a local one
   *   that does not run on an `ExternalClock`.
   */
  constructor(members: Iterable<SimulationMember>, options: SimulationOptions = {}) {
    this.#probes = Array.from(members, probeOf);
    if (this.#probes.length === 0) throw new TypeError("A Simulation needs at least one member");
    const timeout = options.timeout ?? 30;
    if (!(timeout > 0)) throw new RangeError(`timeout must be > 0 seconds, got ${timeout}`);
    this.#timeout = timeout;
    this.#delays = options.linkDelays;
  }

  /**
   * Await `promise` in a handler as if it were a sleep on the simulated
   * clock: while it is pending, the handler counts as waiting, not running.
   * Use it when a handler waits for something that another task of the
   * simulation will do at a later simulated time (for example a promise that
   * the agent's own clock-driven loop resolves), which the Simulation cannot
   * see by itself. If nothing ever settles `promise`, the handler waits
   * forever and the simulation does not notice.
   *
   * @example A handler that waits for the next price, set by a clock loop
   * ```ts
   * import { Agent, type Container, Simulation } from "@aiomas/aiomas/agent";
   * import { expose } from "@aiomas/aiomas/rpc";
   *
   * class Market extends Agent {
   *   #next = Promise.withResolvers<number>();
   *
   *   constructor(container: Container) {
   *     super(container);
   *     this.#tick().catch(console.error);
   *   }
   *
   *   async #tick(): Promise<void> {
   *     for (let hour = 1; hour <= 24; hour++) {
   *       await this.container.clock.sleep(3600);
   *       this.#next.resolve(30 + hour);
   *       this.#next = Promise.withResolvers<number>();
   *     }
   *   }
   *
   *   @expose
   *   nextPrice(): Promise<number> {
   *     return Simulation.waitFor(this.#next.promise);
   *   }
   * }
   * console.log(typeof Market); // function
   * ```
   */
  static waitFor<T>(promise: PromiseLike<T>): Promise<T> {
    return waitFor(promise);
  }

  /** The time of the last step (`undefined` before the first). */
  get time(): number | undefined {
    return this.#time;
  }

  /**
   * Set every member's clock to `t` (without `t`: to the earliest next event
   * among all members), then resolve once the simulation is quiescent at
   * that time, with the earliest next event time across all members (`null`
   * when none is left; then, without `t`, nothing is set).
   *
   * @throws {SimulationTimeoutError} if the step is not quiescent within the
   *   `timeout` option.
   * @throws {RangeError} if `t` is before the time of a member.
   */
  async step(t?: number): Promise<number | null> {
    if (t !== undefined) checkTime(t, this.#time);
    return await this.#exclusive(async () => {
      // Calls made since the last step land before the clocks move.
      const now = await this.#quiesce(this.#last, undefined, this.#deadline(t));
      if (t === undefined) {
        const next = earliest(now);
        if (next === null) return null;
        t = next;
      }
      return earliest(await this.#stepTo(t));
    });
  }

  /**
   * Step from event to event while the next event is at or before `until`;
   * resolve with the time of the last step (the current time if there was
   * none). The `timeout` option applies to each step.
   *
   * @throws {SimulationTimeoutError} if a step is not quiescent in time.
   */
  async run(until: number): Promise<number> {
    if (typeof until !== "number" || Number.isNaN(until)) {
      throw new RangeError(`run(until=${String(until)}): until must be a number`);
    }
    return await this.#exclusive(async () => {
      let wave = await this.#quiesce(this.#last, undefined, this.#deadline(undefined));
      let time = Math.max(...wave.map((status) => status.time));
      for (let next = earliest(wave); next !== null && next <= until; next = earliest(wave)) {
        wave = await this.#stepTo(next);
        time = next;
      }
      return time;
    });
  }

  async #exclusive<R>(body: () => Promise<R>): Promise<R> {
    if (this.#busy) {
      throw new AiomasError("A Simulation steps one step at a time: await step() and run()");
    }
    this.#busy = true;
    try {
      const delays = this.#delays;
      if (delays !== undefined) {
        await this.#wave((probe) => probe.setDelays(delays), this.#deadline(undefined));
        this.#delays = undefined;
      }
      return await body();
    } finally {
      this.#busy = false;
    }
  }

  #deadline(target: number | undefined): Deadline {
    return { at: performance.now() + this.#timeout * 1000, target };
  }

  /** Set every clock to `t`, then wait until quiescent. */
  async #stepTo(t: number): Promise<SimStatus[]> {
    const deadline = this.#deadline(t);
    this.#last = undefined;
    // Every member learns t before any moves: the first message from a member
    // at t then moves the receiver to t before it is handled.
    await this.#wave((probe) => probe.prepare(t), deadline);
    const first = await this.#wave((probe) => probe.setTime(t), deadline);
    this.#time = t;
    return await this.#quiesce(first, t, deadline);
  }

  /** Wave until two consecutive waves match and show a quiescent system. */
  async #quiesce(
    previous: SimStatus[] | undefined,
    time: number | undefined,
    deadline: Deadline,
  ): Promise<SimStatus[]> {
    for (;;) {
      const wave = await this.#wave((probe) => probe.status(false), deadline);
      // Name members by their address in diagnostics from now on.
      for (let i = 0; i < wave.length; i++) this.#probes[i]!.name = wave[i]!.addr;
      const now = time ?? Math.max(...wave.map((status) => status.time));
      if (previous !== undefined && isQuiet(wave, now) && sameWave(previous, wave)) {
        this.#last = wave;
        return wave;
      }
      previous = wave;
    }
  }

  /** Ask every member at once; on the deadline, collect diagnostics and throw. */
  async #wave<S>(
    ask: (probe: Probe) => Promise<S>,
    deadline: Deadline,
  ): Promise<S[]> {
    const seconds = Math.max(0, deadline.at - performance.now()) / 1000;
    try {
      return await withDeadline(Promise.all(this.#probes.map(ask)), seconds, () => LATE);
    } catch (error) {
      if (error === LATE) throw await this.#timeoutError(deadline.target);
      throw error;
    }
  }

  async #timeoutError(time: number | undefined): Promise<SimulationTimeoutError> {
    const grace = 1; // seconds
    const reports: SimulationMemberReport[] = await Promise.all(
      this.#probes.map(async (probe): Promise<SimulationMemberReport> => {
        try {
          return await withDeadline(
            probe.status(true) as Promise<SimStatusDetail>,
            grace,
            () => LATE,
          );
        } catch (error) {
          const why = error === LATE
            ? `did not answer within ${grace} s (is its event loop blocked?)`
            : `failed to report: ${(error as Error)?.message ?? error}`;
          return { addr: probe.name, error: why };
        }
      }),
    );
    const at = time === undefined ? "at the current time" : `when stepping to ${time}`;
    const lines = [
      `The simulation did not become quiescent ${at} within ${this.#timeout} s ` +
      "(the timeout option). Still busy:",
    ];
    let calls = 0, handlers = 0;
    for (const report of reports) {
      if ("error" in report) {
        lines.push(`- ${report.addr} ${report.error}`);
        continue;
      }
      calls += report.callsOpen;
      handlers += report.handlersOpen;
      lines.push(`- ${describe(report)}`);
    }
    if (calls !== handlers) {
      lines.push(
        `${calls} calls wait for a reply but ${handlers} handlers are open: a request or reply ` +
          "is in flight, or a container that is not a member calls in or is called.",
      );
    }
    lines.push(
      'A "running" handler awaits something other than the simulated clock or a call ' +
        "(a real timer, I/O, a promise nothing resolves); raise the timeout if steps take longer.",
    );
    return new SimulationTimeoutError(lines.join("\n"), time ?? NaN, reports);
  }
}

function describe(report: SimStatusDetail): string {
  const parts: string[] = [];
  const byState = (state: string) => report.handlers.filter((handler) => handler.state === state);
  const running = byState("running");
  if (running.length > 0) {
    parts.push(
      `${report.running} handler(s) running: ` +
        running.map((h) => `${h.path} (for ${h.seconds} s, from ${h.peer})`).join(", "),
    );
  }
  if (report.calls.length > 0) {
    parts.push(
      `${report.callsOpen} call(s) waiting for a reply: ` +
        report.calls.map((c) => `${c.path} (to ${c.peer}, for ${c.seconds} s)`).join(", "),
    );
  }
  const sleeping = byState("sleeping");
  if (sleeping.length > 0) {
    parts.push(
      `${sleeping.length} handler(s) sleeping: ` +
        sleeping.map((h) => `${h.path} until ${h.wake}`).join(", "),
    );
  }
  const calling = byState("calling");
  if (calling.length > 0) {
    parts.push(
      `${calling.length} handler(s) waiting for calls: ` +
        calling.map((h) => h.path).join(", "),
    );
  }
  const when = report.sleepers.map(([time, count]) => count > 1 ? `${time} (x${count})` : time);
  parts.push(
    `${report.timers} timer(s) and sleeper(s) pending` +
      (when.length === 0 ? "" : ` at ${when.join(", ")}`),
  );
  if (!report.settled) parts.push("still counting messages on every turn");
  return `${report.addr} (time ${report.time}): ${parts.join("; ")}`;
}
