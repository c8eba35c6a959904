/**
 * The agent layer: containers that host many agents behind one socket and
 * share one connection per pair of containers.
 *
 * @example
 * ```ts
 * import { Agent, Container } from "@aiomas/aiomas/agent";
 * import { expose } from "@aiomas/aiomas/rpc";
 *
 * class Callee extends Agent {
 *   @expose
 *   spam(times: number): string {
 *     return "spam".repeat(times);
 *   }
 * }
 * const container = await Container.create("tcp://127.0.0.1:0");
 * const callee = new Callee(container);
 * const proxy = await container.connect<Callee>(callee.addr);
 * console.log(await proxy.spam(2)); // spamspam
 * await container.shutdown();
 * ```
 *
 * @module
 */

export { Agent } from "./agent.ts";
export { splitAgentAddress } from "./addresses.ts";
export { type ConnectOptions, Container, type ContainerOptions } from "./container.ts";
export { dateSerializer, formatPythonDate } from "./dates.ts";
export { type InspectorSnapshot, watchContainer } from "./inspector.ts";
export { type AgentInfo, type ContainerStats, type LinkStats, type TracedCall } from "./stats.ts";
// What this layer's API names from the layers below: types only, and the few classes it
// returns or throws (real exports, so that everything listed here can be imported from here).
export type { Clock, SleepOptions, TimerHandle } from "../clocks/mod.ts";
export type {
  Codec,
  CodecClass,
  Constructor,
  FromPlain,
  SerializerOptions,
  SerializerSpec,
  SerializerTriple,
  ToPlain,
} from "../codecs/mod.ts";
export { BufferBudget, Channel, Request } from "../channel/mod.ts";
export type {
  Address,
  BudgetAccount,
  BudgetAnswer,
  ChannelOptions,
  ConnectionOptions,
  LocalAddress,
  ReplyObserver,
  SendOptions,
  TcpAddress,
  TlsOptions,
  UnixAddress,
} from "../channel/mod.ts";
export { CallTrace, Kwargs } from "../rpc/mod.ts";
export type {
  CallDirection,
  CallEvent,
  CallMetricsSnapshot,
  CallSample,
  DynamicRemote,
  PathStats,
  Remote,
  RemoteOf,
  WithKwargs,
} from "../rpc/mod.ts";
export { AddressError, AiomasError, ConnectionError } from "../errors.ts";
export {
  BUILTIN_CODECS,
  type ClockSpec,
  resolveClock,
  resolveCodec,
  resolveSerializers,
} from "./child_options.ts";
export {
  type AgentFactory,
  agentFactory,
  canonicalModule,
  importSpec,
  isAgentFactory,
  isLocalModule,
} from "./module_spec.ts";
export {
  createManagedContainer,
  type ManagedContainerOptions,
  Manager,
  type ManagerAccess,
  type ManagerOptions,
  type ManagerProxy,
  setTimeAll,
  startContainer,
  type StartContainerOptions,
} from "./manager.ts";
export {
  type LinkDelays,
  type OpenCall,
  type OpenHandler,
  type SimStatus,
  type SimStatusDetail,
} from "./activity.ts";
export {
  Simulation,
  type SimulationMember,
  type SimulationMemberReport,
  type SimulationOptions,
  SimulationTimeoutError,
} from "./simulation.ts";
export {
  type ContainerHandle,
  type ProcessContainerHandle,
  type ProcessSpawnOptions,
  type SpawnOptions,
  spawnProcessContainer,
  spawnWorkerContainer,
} from "./spawn.ts";
