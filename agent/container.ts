/**
 * {@linkcode Container}: one server socket shared by many agents, and one
 * connection per pair of containers shared by all of their agents.
 *
 * @module
 */

import { type Address, parseAddress } from "../channel/address.ts";
import type { Channel } from "../channel/channel.ts";
import type { ConnectionOptions, Server } from "../channel/server.ts";
import type { Clock } from "../clocks/clock.ts";
import { RealtimeClock } from "../clocks/realtime.ts";
import type { SerializerSpec } from "../codecs/types.ts";
import { ConnectionError } from "../errors.ts";
import type { RpcClient, RpcOptions } from "../rpc/client.ts";
import { agentAddressEnd } from "../rpc/references.ts";
import type { CallEvent, CallTrace } from "../rpc/metrics.ts";
import { type Caller, type DynamicRemote, makeProxy, type RemoteOf } from "../rpc/proxy.ts";
import { startServer } from "../rpc/server.ts";
import { type Activity, createActivity, registerActivity } from "./activity.ts";
import { advertisedAddress, checkContainerAddress, splitAgentAddress } from "./addresses.ts";
import { Agent } from "./agent.ts";
import { ContainerService } from "./container_service.ts";
import { dateSerializer } from "./dates.ts";
import { type Inspector, startInspector } from "./inspector.ts";
import { ContainerLink, openRetrying, waitToRetry } from "./link.ts";
import { openSelfConnection, type SelfConnection } from "./self_connection.ts";
import {
  buildStats,
  CallRecorder,
  combineMonitors,
  type ContainerStats,
  type LinkStats,
  linkStats,
} from "./stats.ts";

/**
 * Options of {@linkcode Container.create}; every one is optional.
 *
 * Declared here: `clock` (default a new `RealtimeClock`), `extraSerializers`
 * (none), `callTimeout` (no call deadline), `connectRetry` (`0`), `connectTimeout`
 * (`10`), `metrics`
 * (`true`), `trace` (`0`), `onCall`, `inspect`, `inspectToken`, `onConnection`.
 *
 * Inherited from the channel layer's `ConnectionOptions` and `ChannelOptions`
 * (see their documentation): `codec` (default `JsonCodec`), `tls` (plain
 * TCP), `maxMessageSize` (64 MiB), `onError` (log a warning), `heartbeat`
 * (off), `frameTimeout`, `idleTimeout`, `maxConnections`,
 * `maxConcurrentRequests`, `maxBufferedBytes`, `bufferBudget`, `keepAlive`,
 * `fullTracebacks`, `recycleReadBuffers`.
 *
 * @example
 * ```ts
 * import { Container, type ContainerOptions } from "@aiomas/aiomas/agent";
 * import { MsgPackCodec } from "@aiomas/aiomas/codecs";
 *
 * const options: ContainerOptions = { codec: MsgPackCodec, callTimeout: 10, connectRetry: 5 };
 * const container = await Container.create("tcp://127.0.0.1:0", options);
 * console.log(container.addr.startsWith("tcp://127.0.0.1:")); // true
 * await container.shutdown();
 * ```
 */
export interface ContainerOptions extends Omit<ConnectionOptions, "setup" | "extraSerializers"> {
  /**
   * The container's clock (default: a new `RealtimeClock`). It is the agents'
   * time; call deadlines (`callTimeout`, `connectRetry`) run on real time
   * even with an `ExternalClock`.
   */
  clock?: Clock | undefined;
  /** Serializers for custom types, registered after the date serializer, in this order. */
  extraSerializers?: readonly SerializerSpec[] | undefined;
  /**
   * Default deadline of every call made through this container, in seconds
   * (default: none). Deadlines run on real time, even with an
   * `ExternalClock` (see docs/clocks.md).
   */
  callTimeout?: number | undefined;
  /** @deprecated Use `callTimeout` (the same: the default call deadline in seconds). */
  timeout?: number | undefined;
  /**
   * Seconds for which `connect()` and agent proxies that reconnect keep
   * retrying a refused connection (default `0`: one attempt per call; after
   * a failure, calls within a pause of 100 ms, doubling up to 2 s, reject at
   * once). See docs/lifetimes.md.
   */
  connectRetry?: number | undefined;
  /**
   * Seconds after which one attempt to open a connection gives up with a
   * `ConnectionError` (default `10`; `0`: wait as long as the system does,
   * often two minutes). It bounds calls through proxies of a host that
   * vanished without a trace. See docs/lifetimes.md.
   */
  connectTimeout?: number | undefined;
  /** Count calls in and out by path for {@linkcode Container.stats} (default `true`). */
  metrics?: boolean | undefined;
  /**
   * Keep the last `trace` calls (time, peer, path, latency, outcome) for
   * `stats().recentCalls` and the live view (default `0`, or `200` with `inspect`).
   */
  trace?: number | undefined;
  /**
   * Called with every call through this container once it has finished, in
   * and out (for shipping to your own monitoring). It must not throw.
   */
  onCall?: ((event: CallEvent) => void) | undefined;
  /**
   * Serve the live view (one HTML page, JSON stats and server-sent events) on
   * this address, e.g. `"tcp://127.0.0.1:0"`; `container.inspectUrl` tells
   * where. Addresses other than loopback need `inspectToken`. See docs/observe.md.
   */
  inspect?: Address | undefined;
  /** A secret the live view requires as `?token=` (required off loopback). */
  inspectToken?: string | undefined;
  /**
   * Called with each connection the container opens or accepts (not the
   * in-memory one to its own agents) before it reads its first message:
   * the place to log `channel.peer`, and `channel.closed` to see it end.
   * It must not throw.
   */
  onConnection?: ((channel: Channel) => void) | undefined;
}

/**
 * Options of {@linkcode Container.connect}; every one is optional.
 *
 * @example Waiting up to 10 s for a container (or agent) that is still starting
 * ```ts ignore
 * const peer = await container.connect("tcp://127.0.0.1:5555/0", { connectRetry: 10 });
 * ```
 */
export interface ConnectOptions {
  /**
   * For this many seconds, keep retrying while the connection is refused or
   * the container has no agent of that id yet, so that a container (or
   * agent) can be started and connected to at once. `connect()` gives up
   * only once the whole window has passed. Default: the container's
   * `connectRetry` option, else `0` (one attempt).
   */
  connectRetry?: number | undefined;
  /** @deprecated Use `connectRetry` (the same: the retry window in seconds). */
  timeout?: number | undefined;
}

/** Connection options as a container passes them to the RPC layer. */
type ContainerConnectionOptions =
  & Omit<ContainerOptions, "clock">
  & RpcOptions
  & Pick<ConnectionOptions, "setup">;

/**
 * A container hosts agents behind one server socket. Agents call agents in
 * other containers with {@linkcode Container.connect}; the connection to each
 * other container is opened once and shared. Calls to agents of the same
 * container keep RPC semantics (arguments and results are copies, errors are
 * `RemoteException`s) but use an in-memory connection instead of a socket.
 *
 * @example The aiomas guide's Caller/Callee example
 * ```ts
 * import { Agent, Container, expose } from "@aiomas/aiomas";
 *
 * class Callee extends Agent {
 *   @expose
 *   spam(times: number): string {
 *     return "spam".repeat(times);
 *   }
 * }
 * class Caller extends Agent {
 *   async run(calleeAddr: string): Promise<string> {
 *     const callee = await this.container.connect<Callee>(calleeAddr);
 *     return await callee.spam(3);
 *   }
 * }
 *
 * const container = await Container.create({ hostname: "127.0.0.1", port: 0 });
 * const callee = new Callee(container);
 * const caller = new Caller(container);
 * console.log(await caller.run(callee.addr)); // spamspamspam
 * await container.shutdown();
 * ```
 */
export class Container {
  /** The container's address with a trailing `/`, e.g. `tcp://127.0.0.1:5555/`. */
  readonly addr: string;
  /** The container's clock; agents sleep with `this.container.clock`. */
  readonly clock: Clock;

  #service: ContainerService;
  /** The options of every connection: the user's, plus the container's serializers. */
  #connectionOptions: ContainerConnectionOptions;
  #server: Server | undefined;
  #nextId = 0;
  /** One link per container address, shared by all proxies of its agents. */
  #links = new Map<string, ContainerLink>();
  #connectRetry: number;
  #connectTimeout: number;
  #self: SelfConnection | undefined;
  #shutDown = false;
  #activity: Activity | undefined;
  #recorder: CallRecorder;
  #inspector: Inspector | undefined;

  private constructor(
    addr: string,
    service: ContainerService,
    options: ContainerOptions,
    connectionOptions: ContainerConnectionOptions,
    recorder: CallRecorder,
  ) {
    this.addr = addr;
    this.#recorder = recorder;
    this.clock = options.clock ?? new RealtimeClock();
    this.#service = service;
    this.#connectionOptions = connectionOptions;
    this.#connectRetry = options.connectRetry ?? 0;
    this.#connectTimeout = options.connectTimeout ?? 10;
  }

  /**
   * Create a container listening on `addr` (`{ hostname, port }`,
   * `"tcp://host:port"`, or a Unix socket `{ path }`). Port `0` picks a free
   * port; `addr` of the result reports it.
   *
   * @param addr Where to listen.
   * @param options Optional (default `{}`): codec, clock, call deadline, TLS, ...
   *   (see {@linkcode ContainerOptions}).
   * @throws {AddressError} naming the address when it is missing, malformed,
   *   an agent's address (`tcp://h:p/5`), or cannot be listened on (in use,
   *   no such directory, a host that does not resolve).
   */
  static async create(addr: Address, options?: ContainerOptions): Promise<Container> {
    addr = checkContainerAddress(addr);
    options ??= {};
    // The address is known once the server is bound, so the service comes first.
    const service = new ContainerService();
    // On an ExternalClock, count calls for the Simulation (agent/activity.ts).
    const activity = createActivity(options.clock);
    const recorder = new CallRecorder({
      metrics: options.metrics,
      trace: options.trace ?? (options.inspect === undefined ? 0 : 200),
      onCall: options.onCall,
    });
    const created: { container?: Container } = {};
    const connectionOptions: ContainerConnectionOptions = {
      ...options,
      setup: options.onConnection,
      monitor: combineMonitors(activity, recorder.monitor),
      extraSerializers: [dateSerializer, ...(options.extraSerializers ?? [])],
      servicePath: (value) =>
        value instanceof Agent && value.container.#service === service
          ? `agents/${value.aid}`
          : undefined,
      resolveAgent: (address) => {
        const container = created.container;
        return container === undefined ? undefined : container.#agentProxy(address);
      },
    };
    const server = await startServer(parseAddress(addr), service, connectionOptions);
    const container = new Container(
      advertisedAddress(server.addr),
      service,
      options,
      connectionOptions,
      recorder,
    );
    container.#server = server;
    container.#activity = activity;
    registerActivity(container, activity);
    created.container = container;
    if (options.inspect !== undefined) {
      try {
        container.#inspector = await startInspector(container, options.inspect, {
          token: options.inspectToken,
        });
      } catch (error) {
        await container.shutdown();
        throw error;
      }
    }
    return container;
  }

  /** Open socket connections: those this container opened plus those its server accepted. */
  get connectionCount(): number {
    let opened = 0;
    for (const [addr, link] of this.#links) {
      if (addr !== this.addr && link.client !== undefined) opened++;
    }
    return opened + (this.#server?.channels.size ?? 0);
  }

  /** The live view's URL (with its token), if the container was created with `inspect`. */
  get inspectUrl(): string | undefined {
    return this.#inspector?.url;
  }

  /** The trace of recent calls, if the container keeps one (option `trace` or `inspect`). */
  get trace(): CallTrace | undefined {
    return this.#recorder.trace;
  }

  /**
   * A snapshot of the container as plain data: its agents, connections
   * (bytes in and out, queued bytes, pending calls), calls in and out by path
   * (count, errors, latency quantiles), its clock's pending timers and, with
   * a trace, the recent calls. A Manager answers the same as `stats()`.
   *
   * @example
   * ```ts
   * import { Container } from "@aiomas/aiomas/agent";
   * const container = await Container.create("tcp://127.0.0.1:0");
   * const stats = await container.stats();
   * console.log(stats.agents.count, stats.connections.length); // 0 0
   * await container.shutdown();
   * ```
   */
  stats(): Promise<ContainerStats> {
    const links: LinkStats[] = [];
    for (const [addr, link] of this.#links) {
      const channel = link.client?.channel;
      if (addr !== this.addr && channel !== undefined && !channel.isClosed) {
        links.push(linkStats("out", addr, channel));
      }
    }
    for (const channel of this.#server?.channels ?? []) {
      links.push(linkStats("in", channel.peer, channel));
    }
    if (this.#self !== undefined) {
      links.push(linkStats("self", this.addr, this.#self.client.channel));
    }
    return Promise.resolve(buildStats({
      addr: this.addr,
      clock: this.clock,
      agents: this.#service.agents,
      links,
      recorder: this.#recorder,
    }));
  }

  /** The agents of this container by id. */
  get agents(): ReadonlyMap<string, Agent> {
    return this.#service.agents;
  }

  /**
   * Register `agent` and return its id: `name` if given, else the next number
   * (`"0"`, `"1"`, ...). Called by the `Agent` constructor.
   */
  register(agent: Agent, name?: string): string {
    if (this.#shutDown) throw new ConnectionError(this.#shutDownText());
    const agents = this.#service.agents;
    let aid: string;
    if (name !== undefined) {
      if (name === "" || name.includes("/") || agents.has(name)) {
        throw new TypeError(
          `Invalid or duplicate agent name "${name}" in ${this.addr}: a name is not empty, ` +
            'has no "/" and is not taken yet (leave it out to get the next number)',
        );
      }
      aid = name;
    } else {
      do aid = String(this.#nextId++); while (agents.has(aid));
    }
    agents.set(aid, agent);
    return aid;
  }

  /** The class name of agent `aid`, or `null` if this container has no such agent. */
  validateAid(aid: string): string | null {
    return this.#service.validate_aid(aid);
  }

  /**
   * Connect to the agent at `agentAddr` (`tcp://host:port/<id>`) and return a
   * proxy for it. Opens (or reuses) the one connection to that container and
   * checks the agent exists.
   *
   * Typed as `connect<T>(agentAddr, options?)`: with a type argument,
   * `container.connect<Callee>(addr)` gives a `Remote<Callee>` whose calls the
   * compiler checks; without one, an untyped `DynamicRemote`.
   *
   * @param agentAddr The agent's address, `tcp://host:port/<id>`.
   * @param options Optional (default `{}`): `connectRetry`, the seconds for
   *   which to retry a refused connection or an unknown id.
   * @throws {AddressError} when `agentAddr` is not an agent address (no id).
   * @throws {ConnectionError} when the container is unreachable or has no such agent.
   */
  async connect<T = unknown>(
    agentAddr: string,
    options?: ConnectOptions,
  ): Promise<RemoteOf<T>> {
    options ??= {};
    if (this.#shutDown) throw new ConnectionError(this.#shutDownText());
    const [containerAddr, aid] = splitAgentAddress(agentAddr);
    const link = this.#link(containerAddr);
    const retryFor = options.connectRetry ?? options.timeout ?? this.#connectRetry;
    const deadline = performance.now() + retryFor * 1000;
    let name: unknown;
    // Until the deadline: retry a refused or lost connection, and an agent not there yet.
    for (let attempt = 0;; attempt++) {
      let failure: ConnectionError | undefined;
      try {
        if (containerAddr === this.addr) name = this.validateAid(aid);
        else {
          const left = Math.max(0, (deadline - performance.now()) / 1000);
          const client = await link.connect(left);
          name = await client.call("validate_aid", [aid], {});
        }
      } catch (error) {
        if (!(error instanceof ConnectionError) || this.#shutDown) throw error;
        failure = error;
      }
      if (failure === undefined && name !== null) break;
      if (this.#shutDown || !await waitToRetry(attempt, deadline)) {
        if (failure !== undefined) throw failure;
        break;
      }
    }
    if (name === null) {
      throw new ConnectionError(
        `No agent "${aid}" at ${containerAddr}: check the address (ids are "0", "1", ...)`,
      );
    }
    if (typeof name !== "string") {
      // Never look further into a peer's odd answer: it may hold proxies.
      throw new ConnectionError(
        `${containerAddr} answered validate_aid("${aid}") with a ${
          Array.isArray(name) ? "list" : typeof name
        }, not a class name: is it an aiomas container?`,
      );
    }
    return this.#proxy(
      containerAddr,
      link,
      agentAddr,
      `agents/${aid}`,
      `${name}Proxy('${agentAddr}')`,
    ) as RemoteOf<T>;
  }

  /** A proxy calling `path` through `caller`, a link to the container at `containerAddr`. */
  #proxy(
    containerAddr: string,
    caller: Caller,
    address: string,
    path: string,
    label: string,
  ): DynamicRemote {
    return makeProxy({
      // On an ExternalClock, calls take the Simulation's simulated link delays.
      caller: this.#activity?.linkCaller(caller, containerAddr) ?? caller,
      path,
      label,
      address,
      lease: undefined,
      parent: undefined,
      children: undefined,
    });
  }

  /**
   * A proxy for an agent address that a peer passed (`tcp://host:port/<aid>`,
   * maybe followed by member names). No call is made: the link to that
   * container is looked up (or made) by the first call through the proxy, so
   * addresses a peer sends cost nothing until they are used.
   */
  #agentProxy(address: string): DynamicRemote | undefined {
    const end = agentAddressEnd(address);
    const agentAddr = address.slice(0, end);
    let containerAddr: string, aid: string;
    try {
      [containerAddr, aid] = splitAgentAddress(agentAddr);
    } catch {
      return undefined;
    }
    const caller: Caller = this.#links.get(containerAddr) ?? {
      call: (path, args, kwargs, options) =>
        this.#link(containerAddr).call(path, args, kwargs, options),
    };
    const rest = address.slice(end); // "" or "/member/..."
    return this.#proxy(
      containerAddr,
      caller,
      address,
      `agents/${aid}${rest}`,
      `AgentProxy('${address}')`,
    );
  }

  /**
   * Close the server and every connection. Pending calls on both sides reject
   * with `ConnectionError`.
   */
  async shutdown(): Promise<void> {
    if (this.#shutDown) return;
    this.#shutDown = true;
    const links = [...this.#links.values()];
    this.#links.clear();
    await Promise.all([
      this.#inspector?.close(),
      this.#server?.close(),
      this.#self?.close(),
      ...links.map((link) => link.close()),
    ]);
  }

  /** Why a shut-down container refuses agents, connections and calls. */
  #shutDownText(): string {
    return `Container ${this.addr} is shut down: create a new container to host or call agents`;
  }

  /** The link to the container at `containerAddr` (made on first use). */
  #link(containerAddr: string): ContainerLink {
    let link = this.#links.get(containerAddr);
    if (link === undefined) {
      link = new ContainerLink(
        containerAddr,
        containerAddr === this.addr
          ? () => Promise.resolve().then(() => this.#selfClient())
          : (retryFor) => {
            const opening = this.#open(containerAddr, retryFor);
            // A Simulation counts the connection being opened as a call in progress.
            this.#activity?.track("(connect)", containerAddr, opening);
            return opening;
          },
        () => this.#connectRetry,
      );
      if (!this.#shutDown) this.#links.set(containerAddr, link);
    }
    return link;
  }

  #open(containerAddr: string, retryFor: number): Promise<RpcClient> {
    return openRetrying(containerAddr, { ...this.#connectionOptions, router: this.#service }, {
      retryFor,
      connectTimeout: this.#connectTimeout,
      stopped: () => this.#shutDown ? this.#shutDownText() : undefined,
    });
  }

  /** The in-memory connection this container uses to call its own agents. */
  #selfClient(): RpcClient {
    if (this.#shutDown) throw new ConnectionError(this.#shutDownText());
    if (this.#self === undefined) {
      const self = openSelfConnection(this.addr, this.#service, this.#connectionOptions);
      this.#self = self;
      // Should the in-memory connection ever close, the next call makes a new one.
      self.closed.then(() => {
        if (this.#self === self && !this.#shutDown) this.#self = undefined;
      });
    }
    return this.#self.client;
  }
}
