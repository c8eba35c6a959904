/**
 * aiomas for Deno: request-reply channels, remote procedure calls and
 * multi-agent systems over TCP, Unix sockets and TLS, wire-compatible with
 * Python aiomas. This module re-exports the common surface of every layer.
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
 *
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
 *
 * @module
 */

export * from "./errors.ts";
export * from "./codecs/mod.ts";
export * from "./clocks/mod.ts";
export * from "./channel/mod.ts";
export {
  type CallDirection,
  type Caller,
  type CallEvent,
  type CallMetricsSnapshot,
  type CallOptions,
  type CallSample,
  CallTrace,
  callWith,
  type DynamicRemote,
  expose,
  Kwargs,
  kwargs,
  type PathStats,
  ref,
  type Remote,
  type RemoteOf,
  RpcClient,
  type RpcConnectOptions,
  type RpcMonitor,
  type RpcOptions,
  type RpcServerOptions,
  type WithKwargs,
} from "./rpc/mod.ts";
export {
  Agent,
  agentFactory,
  type AgentInfo,
  type ConnectOptions,
  Container,
  type ContainerOptions,
  type ContainerStats,
  dateSerializer,
  formatPythonDate,
  type LinkDelays,
  type LinkStats,
  Manager,
  type OpenCall,
  type OpenHandler,
  type SimStatus,
  type SimStatusDetail,
  Simulation,
  type SimulationMember,
  type SimulationMemberReport,
  type SimulationOptions,
  SimulationTimeoutError,
  splitAgentAddress,
  type TracedCall,
} from "./agent/mod.ts";
