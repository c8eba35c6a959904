/**
 * The RPC layer: expose functions and services, call them through proxies,
 * pass services by reference, and call back over the same connection.
 *
 * @example
 * ```ts
 * import { expose, openConnection, startServer } from "@aiomas/aiomas/rpc";
 *
 * class Sub {
 *   @expose
 *   double(x: number): number {
 *     return 2 * x;
 *   }
 * }
 * class Service {
 *   @expose
 *   sub = new Sub();
 *
 *   @expose
 *   async add(a: number, b: number): Promise<number> {
 *     return a + b;
 *   }
 * }
 *
 * const server = await startServer("tcp://127.0.0.1:0", new Service());
 * const client = await openConnection<Service>(server.url);
 * console.log(await client.remote.add(1, 2)); // 3
 * console.log(await client.remote.sub.double(21)); // 42
 * await client.close();
 * await server.close();
 * ```
 *
 * @module
 */

export {
  currentCall,
  type RpcCall,
  RpcClient,
  type RpcMonitor,
  type RpcOptions,
} from "./client.ts";
export { RELEASE_PATH } from "./references.ts";
export { expose, isExposedFunction, Kwargs, kwargs } from "./expose.ts";
export {
  type CallDirection,
  type CallEvent,
  CallMetrics,
  type CallMetricsSnapshot,
  type CallSample,
  type CallToken,
  CallTrace,
  LatencyHistogram,
  metricPath,
  type PathStats,
} from "./metrics.ts";
export {
  type Caller,
  type CallOptions,
  callWith,
  createProxy,
  type DynamicRemote,
  type Lease,
  proxyPath,
  ref,
  type Remote,
  remoteMember,
  type RemoteOf,
  RESERVED_NAMES,
  type WithKwargs,
} from "./proxy.ts";
export {
  isService,
  mount,
  type ResolvedCall,
  resolveObject,
  resolvePath,
  servicePath,
  unmount,
} from "./router.ts";
export {
  openConnection,
  type RpcConnectOptions,
  type RpcServerOptions,
  startServer,
} from "./server.ts";
// What this layer's API names from the layers below: types only, and the classes it
// returns (real exports, so that everything listed here can be imported from here).
export { BufferBudget, Channel, Request } from "../channel/mod.ts";
export { AiomasError } from "../errors.ts";
export type {
  Address,
  BudgetAccount,
  BudgetAnswer,
  ChannelOptions,
  ConnectionOptions,
  LocalAddress,
  ReplyObserver,
  ResolvedAddress,
  SendOptions,
  Server,
  TcpAddress,
  TlsOptions,
  UnixAddress,
} from "../channel/mod.ts";
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
