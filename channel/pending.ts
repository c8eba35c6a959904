/**
 * {@linkcode PendingReplies}: the requests a channel sent and waits for,
 * by id, in a ring of slots instead of a `Map`.
 *
 * Why not a `Map`: with many calls in flight, a `Map` that gets one insert
 * and one delete per call rebuilds its table every few hundred calls. The
 * table outlives a scavenge or two, so V8 moves it to the old generation,
 * where a dead table still counts as a root for young objects until the
 * next full collection: every old table kept the promises and replies of a
 * whole window of calls alive, and those were promoted in turn. Measured
 * with 256 calls in flight across processes: 20-30% of the young generation
 * survived each scavenge (2.5-8 MB), garbage collection took a quarter of
 * the client's time, and a call cost 900 ns of client CPU; with the ring,
 * about 1% survives and a call costs about 500 ns.
 *
 * @module
 */

/** Slots of a new ring. */
const MIN_SLOTS = 16;
/** The ring grows no further; requests it cannot place wait in a side table. */
const MAX_SLOTS = 4096;

type Settle = (value: unknown) => void;

/**
 * Told when an observed request settles: its `tag`, whether it succeeded,
 * and the reply or the error (see `Channel.sendObserved`).
 */
export type ReplyObserver = (tag: unknown, ok: boolean, replyOrError: unknown) => void;

/** Call `observer`; one that throws (it must not) costs a warning, never the reply. */
export function tellObserver(
  observer: ReplyObserver,
  tag: unknown,
  ok: boolean,
  replyOrError: unknown,
): void {
  try {
    observer(tag, ok, replyOrError);
  } catch (error) {
    console.warn(`aiomas: a reply observer failed: ${error}`);
  }
}

// `new Promise(capture)` hands its resolving functions over here: no
// executor closure and no `{ promise, resolve, reject }` object per request.
let capturedResolve: Settle | undefined;
let capturedReject: Settle | undefined;
function capture(resolve: Settle, reject: Settle): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** A request pulled out of the ring (rare: see {@linkcode PendingReplies.add}). */
interface Evicted {
  resolve: Settle;
  reject: Settle;
  promise: Promise<unknown>;
  observer: ReplyObserver | undefined;
  tag: unknown;
}

const noop = () => {};

/**
 * The pending requests of one channel. Request ids count up, so request
 * `id` lives in slot `id % slots`. When a new request finds its slot taken
 * by an older one, the ring doubles if it is at least a quarter full (many
 * calls in flight), else (a few long calls among many short ones) the
 * older request moves to a side table.
 *
 * A rejection never goes unhandled: a request's promise gets a handler when
 * it is rejected (not before: most are resolved, and a handler per request
 * costs an allocation and a microtask), so a caller that never awaits a
 * failed request does not end the process.
 */
export class PendingReplies {
  #ids: number[] = [];
  #resolve: Array<Settle | undefined> = [];
  #reject: Array<Settle | undefined> = [];
  #promise: Array<Promise<unknown> | undefined> = [];
  #observer: Array<ReplyObserver | undefined> = [];
  #tag: unknown[] = [];
  /** The promise of the request `#take` took last. */
  #taken: Promise<unknown> | undefined;
  /** The observer and tag of the request `#take` took last. */
  #takenObserver: ReplyObserver | undefined;
  #takenTag: unknown;
  #mask = -1;
  #inRing = 0;
  #evicted: Map<number, Evicted> | undefined;

  /** How many requests wait for their reply. */
  get size(): number {
    return this.#inRing + (this.#evicted?.size ?? 0);
  }

  /**
   * Register request `id` (a new, unused id); the promise settles with its
   * reply. With an `observer`, it is called with `tag` right before.
   */
  add(id: number, observer?: ReplyObserver, tag?: unknown): Promise<unknown> {
    const promise = new Promise<unknown>(capture);
    const resolve = capturedResolve!;
    const reject = capturedReject!;
    capturedResolve = capturedReject = undefined;
    if (this.#mask < 0) this.#allocate(MIN_SLOTS);
    let slot = id & this.#mask;
    while (this.#resolve[slot] !== undefined) {
      this.#makeRoom(slot);
      slot = id & this.#mask;
    }
    this.#ids[slot] = id;
    this.#resolve[slot] = resolve;
    this.#reject[slot] = reject;
    this.#promise[slot] = promise;
    this.#observer[slot] = observer;
    this.#tag[slot] = tag;
    this.#inRing++;
    return promise;
  }

  /** Whether request `id` waits for its reply. */
  has(id: number): boolean {
    if (this.#mask >= 0) {
      const slot = id & this.#mask;
      if (this.#resolve[slot] !== undefined && this.#ids[slot] === id) return true;
    }
    return this.#evicted?.has(id) ?? false;
  }

  /** Resolve request `id` with `value` and forget it; `false` if it was not pending. */
  resolve(id: number, value: unknown): boolean {
    const settle = this.#take(id, true);
    if (settle === undefined) return false;
    this.#tell(true, value);
    settle(value);
    return true;
  }

  /** Reject request `id` with `error` and forget it; `false` if it was not pending. */
  reject(id: number, error: unknown): boolean {
    const settle = this.#take(id, false);
    if (settle === undefined) return false;
    this.#taken!.catch(noop);
    this.#taken = undefined;
    this.#tell(false, error);
    settle(error);
    return true;
  }

  /** Tell the observer of the request `#take` took last, if any. */
  #tell(ok: boolean, replyOrError: unknown): void {
    const observer = this.#takenObserver;
    if (observer === undefined) return;
    const tag = this.#takenTag;
    this.#takenObserver = this.#takenTag = undefined;
    tellObserver(observer, tag, ok, replyOrError);
  }

  /** Forget request `id` without settling it (its late reply is then unknown). */
  delete(id: number): boolean {
    const found = this.#take(id, true) !== undefined;
    this.#takenObserver = this.#takenTag = undefined;
    return found;
  }

  /** Reject every pending request with `reason`, oldest first, and forget them all. */
  rejectAll(reason: unknown): void {
    const ids: number[] = [];
    for (let slot = 0; slot <= this.#mask; slot++) {
      if (this.#resolve[slot] !== undefined) ids.push(this.#ids[slot]!);
    }
    if (this.#evicted !== undefined) ids.push(...this.#evicted.keys());
    ids.sort((a, b) => a - b);
    for (const id of ids) this.reject(id, reason);
  }

  /** Remove request `id`; returns its resolve (`ok`) or reject function. */
  #take(id: number, ok: boolean): Settle | undefined {
    if (this.#mask >= 0) {
      const slot = id & this.#mask;
      const resolve = this.#resolve[slot];
      if (resolve !== undefined && this.#ids[slot] === id) {
        const reject = this.#reject[slot];
        if (!ok) this.#taken = this.#promise[slot];
        this.#takenObserver = this.#observer[slot];
        this.#takenTag = this.#tag[slot];
        this.#resolve[slot] = this.#reject[slot] = this.#promise[slot] = undefined;
        this.#observer[slot] = this.#tag[slot] = undefined;
        this.#inRing--;
        return ok ? resolve : reject;
      }
    }
    const evicted = this.#evicted?.get(id);
    if (evicted === undefined) return undefined;
    this.#evicted!.delete(id);
    if (!ok) this.#taken = evicted.promise;
    this.#takenObserver = evicted.observer;
    this.#takenTag = evicted.tag;
    return ok ? evicted.resolve : evicted.reject;
  }

  /** Free the slot `slot`, taken by an older request: grow the ring or move that request out. */
  #makeRoom(slot: number): void {
    const slots = this.#mask + 1;
    if (slots < MAX_SLOTS && this.#inRing * 4 >= slots) {
      const ids = this.#ids;
      const resolves = this.#resolve;
      const rejects = this.#reject;
      const promises = this.#promise;
      const observers = this.#observer;
      const tags = this.#tag;
      this.#allocate(slots * 2);
      // Distinct slots modulo `slots` stay distinct modulo `2 * slots`.
      for (let i = 0; i < slots; i++) {
        const resolve = resolves[i];
        if (resolve === undefined) continue;
        const id = ids[i]!;
        const at = id & this.#mask;
        this.#ids[at] = id;
        this.#resolve[at] = resolve;
        this.#reject[at] = rejects[i];
        this.#promise[at] = promises[i];
        this.#observer[at] = observers[i];
        this.#tag[at] = tags[i];
      }
      return;
    }
    (this.#evicted ??= new Map()).set(this.#ids[slot]!, {
      resolve: this.#resolve[slot]!,
      reject: this.#reject[slot]!,
      promise: this.#promise[slot]!,
      observer: this.#observer[slot],
      tag: this.#tag[slot],
    });
    this.#resolve[slot] = this.#reject[slot] = this.#promise[slot] = undefined;
    this.#observer[slot] = this.#tag[slot] = undefined;
    this.#inRing--;
  }

  #allocate(slots: number): void {
    this.#ids = new Array<number>(slots).fill(0);
    this.#resolve = new Array<Settle | undefined>(slots).fill(undefined);
    this.#reject = new Array<Settle | undefined>(slots).fill(undefined);
    this.#promise = new Array<Promise<unknown> | undefined>(slots).fill(undefined);
    this.#observer = new Array<ReplyObserver | undefined>(slots).fill(undefined);
    this.#tag = new Array<unknown>(slots).fill(undefined);
    this.#mask = slots - 1;
  }
}
