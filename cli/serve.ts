/**
 * The `serve` command: a managed container with agents from a module.
 *
 * @module
 */

import { Agent } from "../agent/agent.ts";
import type { Container } from "../agent/container.ts";
import {
  createManagedContainer,
  type ManagedContainerOptions,
  type Manager,
  type ManagerAccess,
} from "../agent/manager.ts";
import { importSpec } from "../agent/module_spec.ts";
import { parseAddress } from "../channel/address.ts";
import type { Clock } from "../clocks/clock.ts";
import { ExternalClock } from "../clocks/external.ts";
import { RealtimeClock } from "../clocks/realtime.ts";
import {
  codecOption,
  COMMON_OPTIONS,
  parse,
  str,
  tlsOption,
  tokenOption,
  UsageError,
} from "./args.ts";
import { describeError } from "./output.ts";
import { ExitCode, PROGRAM, SERVE_USAGE } from "./usage.ts";

/** Import `MODULE[#Export]` (relative to the working directory) and return a factory. */
async function loadAgentClass(spec: string): Promise<[name: string, factory: MakeAgent]> {
  const hash = spec.lastIndexOf("#");
  if (spec === "" || hash === 0 || hash === spec.length - 1) {
    throw new UsageError(
      `invalid --agent "${spec}"`,
      "serve",
      'write MODULE#Class, as in "--agent ./agents.ts#Calculator"',
    );
  }
  const cls = await importSpec(spec);
  if (typeof cls !== "function") {
    throw new TypeError(`"${spec}" does not name a class: name an exported Agent subclass`);
  }
  const create = (cls as { create?: unknown }).create;
  const name = cls.name || spec;
  const factory: MakeAgent = typeof create === "function"
    ? (container) => create.call(cls, container)
    : (container) => new (cls as new (container: Container) => unknown)(container);
  return [name, factory];
}

/** Makes one agent of a `--agent` class in `container`. */
type MakeAgent = (container: Container) => unknown;

function isAgent(value: unknown): value is Agent {
  return value instanceof Agent ||
    (typeof value === "object" && value !== null &&
      typeof (value as { addr?: unknown }).addr === "string");
}

function log(message: string): void {
  console.error(`${PROGRAM} serve: ${message}`);
}

/** `--clock` and `--start-date`: the container's clock. */
function clockOption(
  values: Record<string, unknown>,
): { clock: Clock; clockName: "realtime" | "external" } {
  const clockName = str(values.clock) ?? "realtime";
  if (clockName !== "realtime" && clockName !== "external") {
    throw new UsageError(
      `unknown clock "${clockName}"`,
      "serve",
      "use --clock realtime or --clock external",
    );
  }
  const startDate = str(values["start-date"]);
  if (startDate !== undefined && clockName !== "external") {
    throw new UsageError("--start-date needs --clock external", "serve");
  }
  try {
    const clock = clockName === "external"
      ? new ExternalClock(startDate ?? new Date())
      : new RealtimeClock();
    return { clock, clockName };
  } catch (error) {
    throw new UsageError(
      `invalid --start-date: ${(error as Error).message}`,
      "serve",
      'give an ISO 8601 date, as in "2016-01-01T00:00:00Z"',
    );
  }
}

/** Who may steer the Manager: `--token`, `--open` or TLS, exactly one chosen. */
function accessOption(token: string | undefined, open: boolean, tls: boolean): ManagerAccess {
  if (token !== undefined && open) {
    throw new UsageError(
      "--token and --open exclude each other",
      "serve",
      "choose one: --token for a shared secret, --open for anyone",
    );
  }
  if (token !== undefined) return { token };
  if (open) return "open";
  if (tls) return "tls";
  throw new UsageError(
    "choose who may steer the Manager (spawn, setTime, stop)",
    "serve",
    "give --token SECRET (or AIOMAS_TOKEN), TLS (--tls-ca/--tls-cert/--tls-key), " +
      "or --open (unsafe on untrusted networks)",
  );
}

/** `--inspect HOST:PORT` (or a `tcp://` URL) as an address, or `undefined`. */
function inspectOption(values: Record<string, unknown>): string | undefined {
  const inspectAt = str(values.inspect);
  if (inspectAt === undefined) return undefined;
  const inspect = inspectAt.includes("://") ? inspectAt : `tcp://${inspectAt}`;
  try {
    parseAddress(inspect);
  } catch (error) {
    throw new UsageError(
      `invalid --inspect: ${(error as Error).message}`,
      "serve",
      'give HOST:PORT, as in "--inspect 127.0.0.1:8080"',
    );
  }
  return inspect;
}

/** `aiomas serve`: resolves with the exit code once the container has stopped. */
export async function serveCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...COMMON_OPTIONS,
    agent: { type: "string", multiple: true },
    count: { type: "string" },
    clock: { type: "string" },
    "start-date": { type: "string" },
    open: { type: "boolean" },
    inspect: { type: "string" },
  }, "serve");
  if (values.help) {
    console.log(SERVE_USAGE);
    return ExitCode.Ok;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      "expected exactly one address",
      "serve",
      'as in "aiomas serve tcp://127.0.0.1:5555 --agent ./agents.ts#Calculator"',
    );
  }
  const addr = positionals[0]!;
  try {
    parseAddress(addr);
  } catch (error) {
    throw new UsageError((error as Error).message, "serve");
  }
  const count = values.count === undefined ? 1 : Number(values.count);
  if (!Number.isInteger(count) || count < 0) {
    throw new UsageError(
      `--count takes a whole number >= 0, got "${values.count}"`,
      "serve",
    );
  }
  const { clock, clockName } = clockOption(values);
  const codec = codecOption(values.codec, "serve");
  const tls = tlsOption(values, "serve");
  if (tls) {
    tls.onHandshakeError = (error, peer) =>
      log(`TLS handshake with ${peer} failed: ${error.message}`);
  }
  const token = tokenOption(values, "serve");
  const access = accessOption(token, values.open === true, tls !== undefined);
  const specs = (values.agent as string[] | undefined) ?? [];
  const inspect = inspectOption(values);

  let factories: [string, MakeAgent][];
  try {
    factories = await Promise.all(specs.map(loadAgentClass));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    log(`cannot load the agent class: ${(error as Error)?.message ?? error}`);
    return ExitCode.Failure;
  }

  const options: ManagedContainerOptions = {
    codec,
    clock,
    tls,
    access,
    inspect,
    // Off loopback the live view needs a secret: the Manager's token.
    inspectToken: token,
    onError: (error, channel) => log(`closing connection ${channel.peer}: ${error.message}`),
    onConnection: (channel) => {
      log(`connection ${channel.peer} opened`);
      channel.closed.then(() => log(`connection ${channel.peer} closed`));
    },
  };
  let container: Container;
  let manager: Manager;
  try {
    manager = await createManagedContainer(addr, options);
    container = manager.container;
  } catch (error) {
    log(`cannot start a container on ${addr}: ${(error as Error)?.message ?? error}`);
    return ExitCode.Failure;
  }

  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  let stopping = false;
  const onSignal = (signal: Deno.Signal) => () => {
    if (stopping) {
      log(`${signal} again: exiting at once`);
      Deno.exit(130);
    }
    stopping = true;
    stop(signal);
  };
  const listeners = signals.map((signal) => [signal, onSignal(signal)] as const);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  const unlisten = () => {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  };

  try {
    for (const [name, factory] of factories) {
      for (let i = 0; i < count; i++) {
        const agent = await factory(container);
        if (!isAgent(agent)) {
          throw new TypeError(`${name} did not make an Agent (is it a subclass of Agent?)`);
        }
        console.log(agent.addr);
      }
    }
  } catch (error) {
    log(`cannot create the agents: ${describeError(error)}`);
    unlisten();
    await container.shutdown();
    return ExitCode.Failure;
  }
  log(
    `container ${container.addr} ready with ${container.agents.size - 1} agent(s) and its ` +
      `Manager at ${manager.addr}; codec ${str(values.codec) ?? "json"}, ${clockName} clock` +
      (tls ? ", TLS" : "") +
      `; Manager access: ${
        typeof access === "object" ? "token" : access === "open" ? "open (anyone)" : "TLS peers"
      }`,
  );
  if (container.inspectUrl !== undefined) log(`live view at ${container.inspectUrl}`);
  if (specs.length === 0) {
    log(
      `no --agent given: only the Manager runs; add agents with ` +
        `"${PROGRAM} call ${manager.addr} spawn MODULE#Class"`,
    );
  }

  const reason = await Promise.race([stopped, manager.stopped.then(() => "Manager.stop()")]);
  stopping = true;
  log(`${reason}: shutting down`);
  await container.shutdown();
  unlisten();
  log("stopped");
  return ExitCode.Ok;
}
