/**
 * Containers on more cores: {@linkcode spawnWorkerContainer} runs a managed
 * container (see `agent/manager.ts`) in a Web Worker of this process,
 * {@linkcode spawnProcessContainer} in a new Deno process. Both resolve once
 * the child's {@linkcode Manager} is reachable from a master container, with
 * a proxy for it, the child container's address and `close()`.
 *
 * The child listens on the address you give (port `0` works: the child
 * reports its bound address back through `postMessage` or its first stdout
 * line). A subprocess dies with its master: it exits when its stdin pipe,
 * held by the master, closes, which also happens when the master process
 * crashes or is killed; `close()` stops it and kills it if it lingers.
 *
 * @module
 */

import { type Address, parseAddress } from "../channel/address.ts";
import type { CodecClass } from "../codecs/types.ts";
import { AiomasError } from "../errors.ts";
import type { Container } from "./container.ts";
import { deadline } from "./deadline.ts";
import { BUILTIN_CODECS, checkCodecName, type ClockSpec } from "./child_options.ts";
import { watchContainer } from "./inspector.ts";
import type { ManagerProxy } from "./manager.ts";

/** Options of {@linkcode spawnWorkerContainer} and {@linkcode spawnProcessContainer}. */
export interface SpawnOptions {
  /**
   * The child's codec: a class exported by `@aiomas/aiomas/codecs`, its name
   * (`"MsgPackCodec"`), or a module spec (`"./codec.ts#MyCodec"`). Use the
   * master container's codec.
   */
  codec?: CodecClass | string | undefined;
  /**
   * The child's serializers as module specs (`"./types.ts#Point"`), in the
   * order the master container registers them (functions cannot cross into
   * a worker or process).
   */
  extraSerializers?: readonly string[] | undefined;
  /** The child's clock: `"realtime"` (default) or `{ external: utcStart, initTime? }`. */
  clock?: ClockSpec | undefined;
  /** Seconds to wait for the child to start and its Manager to answer (default 30). */
  startTimeout?: number | undefined;
  /** @deprecated Use `startTimeout` (the same: the start-up wait in seconds). */
  timeout?: number | undefined;
  /** The child's `maxMessageSize` (default 64 MiB). */
  maxMessageSize?: number | undefined;
  /**
   * The child keeps its last `trace` calls for the live view (default `200`
   * when the master serves a live view, else `0`).
   */
  trace?: number | undefined;
}

/** Options of {@linkcode spawnProcessContainer}. */
export interface ProcessSpawnOptions extends SpawnOptions {
  /**
   * Extra `deno run` flags for the child, before the entry module (e.g.
   * `["--allow-env"]`). The child gets `--allow-net`,
   * `--allow-read`, `--allow-import` and `--allow-sys=hostname` (plus
   * `--allow-write=<path>` for a Unix socket address).
   */
  denoArgs?: readonly string[] | undefined;
  /** The child's working directory, against which module specs resolve (default: ours). */
  cwd?: string | undefined;
  /**
   * The `deno.json` (or `deno.jsonc`) the child runs with, so its modules
   * see the application's import map: a path, or `false` for none. By
   * default the master's own: the first config file found walking up from
   * the directory of the master's main module (where Deno looks for it),
   * else from the child's working directory. A `--config`, `-c` or
   * `--no-config` in `denoArgs` takes precedence.
   */
  config?: string | false | undefined;
}

/** A running child container, as the spawn functions return it. */
export interface ContainerHandle {
  /** A proxy for the child's Manager (agent `"0"`). */
  readonly manager: ManagerProxy;
  /** The child container's address with a trailing `/` (e.g. `tcp://127.0.0.1:40123/`). */
  readonly addr: string;
  /** Stop the child (via its Manager) and release it (terminate or kill if it lingers). */
  close(): Promise<void>;
}

/** A child container in its own process. */
export interface ProcessContainerHandle extends ContainerHandle {
  /** The child's process id. */
  readonly pid: number;
  /** Resolves with the child's exit status. */
  readonly status: Promise<Deno.CommandStatus>;
}

/**
 * What a child container receives: the JSON-able form of its options.
 * @internal
 */
export interface ChildConfig {
  addr: string | { hostname: string; port: number } | { path: string };
  /** The secret with which the master authenticates to the child's Manager. */
  token: string;
  codec?: string | undefined;
  extraSerializers?: string[] | undefined;
  clock?: ClockSpec | undefined;
  maxMessageSize?: number | undefined;
  trace?: number | undefined;
}

/** The first stdout line of a process container: this, a space, its address. */
export const READY_LINE = "aiomas-container-ready";

const ENTRY = new URL("./container_main.ts", import.meta.url);
const DEFAULT_TIMEOUT = 30;

function codecName(codec: CodecClass | string | undefined): string | undefined {
  if (codec === undefined) return codec;
  if (typeof codec === "string") return checkCodecName(codec);
  for (const [name, value] of Object.entries(BUILTIN_CODECS)) if (value === codec) return name;
  throw new TypeError(
    `The codec ${codec.name} cannot be sent to a child container: give it as a module spec ` +
      '("./my_codec.ts#MyCodec")',
  );
}

function childConfig(master: Container, addr: Address, options: SpawnOptions): ChildConfig {
  const target = parseAddress(addr);
  if ("local" in target) {
    throw new TypeError(
      `A child container cannot listen on local://${target.local}: local:// addresses are ` +
        'per isolate; use "tcp://127.0.0.1:0"',
    );
  }
  const secret = crypto.getRandomValues(new Uint8Array(32));
  return {
    addr: target,
    token: Array.from(secret, (byte) => byte.toString(16).padStart(2, "0")).join(""),
    codec: codecName(options.codec),
    extraSerializers: options.extraSerializers ? [...options.extraSerializers] : undefined,
    clock: options.clock,
    maxMessageSize: options.maxMessageSize,
    trace: options.trace ?? (master.inspectUrl === undefined ? undefined : 200),
  };
}

/**
 * Wait for the child to report its address (`reported`; `what` names the
 * start in the timeout error), connect `master` to its Manager, authorize the
 * connection with the child's secret, and show the child in the master's
 * live view. The handle's `close()` runs once: it takes the child off the
 * live view, then calls `stop(manager)`.
 */
async function attachChild(
  master: Container,
  options: SpawnOptions,
  config: ChildConfig,
  reported: Promise<string>,
  what: string,
  stop: (manager: ManagerProxy) => Promise<void>,
): Promise<ContainerHandle> {
  const timeout = options.startTimeout ?? options.timeout ?? DEFAULT_TIMEOUT;
  const addr = await deadline(reported, timeout, what);
  const manager = await master.connect(`${addr}0`, {
    connectRetry: timeout,
  }) as unknown as ManagerProxy;
  await manager.authenticate(config.token);
  const unwatch = watchContainer(master, addr, () => manager.stats());
  let closing: Promise<void> | undefined;
  return {
    manager,
    addr,
    close() {
      closing ??= (async () => {
        unwatch();
        await stop(manager);
      })();
      return closing;
    },
  };
}

/** Ask the Manager to stop; a lost connection means it is gone already. */
async function requestStop(manager: ManagerProxy): Promise<void> {
  try {
    await deadline(manager.stop(), 5, "Stopping the child container");
  } catch {
    // Already stopped, crashed or unreachable: the caller terminates it.
  }
}

type WorkerReport =
  | { type: "ready"; addr: string }
  | { type: "stopped" }
  | { type: "error"; message: string };

/**
 * Run a managed container in a Web Worker of this process, listening on
 * `addr`, and connect `master` to its Manager. The worker inherits this
 * process' permissions. `close()` stops the container and terminates the
 * worker.
 *
 * @param options Optional (default `{}`): the child's codec, serializers, clock, `startTimeout`
 *   (see {@linkcode SpawnOptions}).
 * @example
 * ```ts ignore
 * import { Container, spawnWorkerContainer } from "@aiomas/aiomas/agent";
 * const master = await Container.create("tcp://127.0.0.1:0");
 * const child = await spawnWorkerContainer(master, "tcp://127.0.0.1:0");
 * const [battery, addr] = await child.manager.spawn("./agents.ts#Battery", 42);
 * console.log(addr); // tcp://127.0.0.1:40123/1
 * await child.close();
 * await master.shutdown();
 * ```
 */
export async function spawnWorkerContainer(
  master: Container,
  addr: Address,
  options: SpawnOptions = {},
): Promise<ContainerHandle> {
  const config = childConfig(master, addr, options);
  const worker = new Worker(ENTRY, { type: "module", name: "aiomas container" });
  const ready = Promise.withResolvers<string>();
  const stopped = Promise.withResolvers<void>();
  worker.onmessage = (event: MessageEvent<WorkerReport>) => {
    const report = event.data;
    if (report.type === "ready") ready.resolve(report.addr);
    else if (report.type === "stopped") stopped.resolve();
    else {
      const error = new AiomasError(`The worker container failed: ${report.message}`);
      ready.reject(error);
      stopped.resolve();
    }
  };
  let started = false;
  worker.onerror = (event: ErrorEvent) => {
    // Keep the master alive: the crash closes the worker's connections (`ConnectionError`s).
    event.preventDefault();
    const error = new AiomasError(`The worker container crashed: ${event.message}`);
    if (started) console.error(`aiomas: ${error.message}`);
    ready.reject(error);
    stopped.resolve();
  };
  worker.postMessage(config);
  let terminated = false;
  const terminate = () => {
    if (terminated) return;
    terminated = true;
    worker.terminate();
    stopped.resolve();
  };
  // Once started, a crash is logged: nobody awaits `ready` any more.
  const reported = ready.promise.then((containerAddr) => {
    started = true;
    return containerAddr;
  });
  try {
    return await attachChild(
      master,
      options,
      config,
      reported,
      "Starting a worker container",
      async (manager) => {
        if (!terminated) await requestStop(manager);
        await deadline(stopped.promise, 2, "").catch(() => {});
        terminate();
      },
    );
  } catch (error) {
    terminate();
    throw error;
  }
}

/**
 * Read `stream` line by line; `onLine` gets each line without its newline.
 * @internal
 */
export async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    rest += text;
    let newline: number;
    while ((newline = rest.indexOf("\n")) >= 0) {
      onLine(rest.slice(0, newline));
      rest = rest.slice(newline + 1);
    }
  }
  if (rest !== "") onLine(rest);
}

/**
 * Run a managed container in a new Deno process (`deno run` with narrow
 * permissions, see {@linkcode ProcessSpawnOptions.denoArgs}), listening on
 * `addr`, and connect `master` to its Manager. The child's stdout (after
 * its ready line) and stderr go to ours. The child exits when its stdin
 * closes, so it never outlives this process; `close()` stops it, closes
 * its stdin and kills it if it has not exited within 2 s.
 *
 * @param options Optional (default `{}`): as for a worker, plus `denoArgs`, `cwd`, `config` (see
 *   {@linkcode ProcessSpawnOptions}).
 * @example
 * ```ts ignore
 * import { Container, spawnProcessContainer } from "@aiomas/aiomas/agent";
 * const master = await Container.create("tcp://127.0.0.1:0");
 * const child = await spawnProcessContainer(master, "tcp://127.0.0.1:0");
 * console.log(child.pid, child.addr);
 * await child.close();
 * await master.shutdown();
 * ```
 */
export async function spawnProcessContainer(
  master: Container,
  addr: Address,
  options: ProcessSpawnOptions = {},
): Promise<ProcessContainerHandle> {
  const config = childConfig(master, addr, options);
  const permissions = ["--allow-net", "--allow-read", "--allow-import", "--allow-sys=hostname"];
  if (typeof config.addr === "object" && "path" in config.addr) {
    permissions.push(`--allow-write=${config.addr.path}`);
  }
  const denoArgs = options.denoArgs ?? [];
  const configFile = hasConfigFlag(denoArgs) || options.config === false
    ? undefined
    : options.config ?? findConfig(options.cwd);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      ...permissions,
      ...(configFile === undefined ? [] : [`--config=${configFile}`]),
      ...denoArgs,
      ENTRY.href,
    ],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // The configuration (with the secret) goes through the pipe, not the command line that
  // other users can see. The pipe is held until close(): the child exits when it closes
  // (also when we die).
  const stdin = child.stdin.getWriter();
  const encoder = new TextEncoder();
  stdin.write(encoder.encode(`${JSON.stringify(config)}\n`)).catch(() => {});
  const ready = Promise.withResolvers<string>();
  let isReady = false;
  const output = readLines(child.stdout, (line) => {
    if (!isReady && line.startsWith(`${READY_LINE} `)) {
      isReady = true;
      ready.resolve(line.slice(READY_LINE.length + 1).trim());
    } else Deno.stdout.writeSync(encoder.encode(`${line}\n`));
  }).catch(() => {});
  // The child's error output goes to ours; its last lines explain a failed start.
  const lastErrors: string[] = [];
  const errors = readLines(child.stderr, (line) => {
    Deno.stderr.writeSync(encoder.encode(`${line}\n`));
    if (!isReady) {
      lastErrors.push(line);
      if (lastErrors.length > STDERR_LINES) lastErrors.shift();
    }
  }).catch(() => {});
  const status = child.status;
  status.then(async (result) => {
    if (isReady) return;
    await deadline(errors, 1, "").catch(() => {});
    const reason = lastErrors.map(stripAnsi).filter((line) => line.trim() !== "").join("\n");
    ready.reject(
      new AiomasError(
        `The container process exited with code ${result.code} before it was ready` +
          (reason === "" ? " (it wrote no error output)" : `:\n${reason}`),
      ),
    );
  });
  let released = false;
  const release = async (graceSeconds: number) => {
    if (released) return;
    released = true;
    await stdin.close().catch(() => {});
    try {
      await deadline(status, graceSeconds, "");
    } catch {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited in the meantime.
      }
    }
    await status;
    await output;
    await errors;
  };
  try {
    const handle = await attachChild(
      master,
      options,
      config,
      ready.promise,
      "Starting a container process",
      async (manager) => {
        await requestStop(manager);
        await release(2);
      },
    );
    return { ...handle, pid: child.pid, status };
  } catch (error) {
    await release(0);
    throw error;
  }
}

/** How many of a failed child's last error lines its error message quotes. */
const STDERR_LINES = 20;

function stripAnsi(line: string): string {
  // deno-lint-ignore no-control-regex
  return line.replace(/\x1b\[[0-9;]*m/g, "");
}

/** Whether `args` choose a config file (or none) themselves. */
function hasConfigFlag(args: readonly string[]): boolean {
  return args.some((arg) => /^(--config|-c|--no-config)(=|$)/.test(arg) || /^-c./.test(arg));
}

const CONFIG_NAMES = ["deno.json", "deno.jsonc"];

/** The first `deno.json(c)` walking up from `dir`, or `undefined`. */
function findConfigFrom(dir: string): string | undefined {
  for (let current = dir;;) {
    for (const name of CONFIG_NAMES) {
      const path = `${current}/${name}`;
      try {
        if (Deno.statSync(path).isFile) return path;
      } catch {
        // Not here (or not readable): look further up.
      }
    }
    const parent = current.replace(/[\\/][^\\/]*$/, "");
    if (parent === current || parent === "") return undefined;
    current = parent;
  }
}

/**
 * The application's config file, as Deno found it for the master: walking up
 * from the main module's directory; else from the child's working directory.
 */
function findConfig(cwd: string | undefined): string | undefined {
  const main = new URL(Deno.mainModule);
  if (main.protocol === "file:") {
    const dir = decodeURIComponent(main.pathname).replace(/\/[^/]*$/, "");
    const found = findConfigFrom(
      Deno.build.os === "windows" ? dir.replace(/^\/([a-zA-Z]:)/, "$1") : dir,
    );
    if (found !== undefined) return found;
  }
  try {
    const dir = cwd === undefined
      ? Deno.cwd()
      : /^([a-zA-Z]:)?[\\/]/.test(cwd)
      ? cwd
      : `${Deno.cwd()}/${cwd}`;
    return findConfigFrom(dir);
  } catch {
    return undefined;
  }
}
