/**
 * {@linkcode TimerHeap}: the priority queue behind the `ExternalClock`.
 *
 * Internal to the clocks layer (not re-exported by `@aiomas/aiomas/clocks`),
 * documented because its ordering rules are the clock's ordering rules:
 * entries come out by time, and entries with equal times come out in the
 * order they were pushed.
 *
 * @module
 */

const INITIAL_CAPACITY = 64;

/**
 * A binary min-heap of items keyed by `(time, seq)`, where `seq` is a
 * sequence number the heap assigns on {@linkcode TimerHeap.push}. Items with
 * the same time therefore pop in FIFO order.
 *
 * The keys live in two parallel `Float64Array`s and the items in a plain
 * array, so a sift step moves two numbers and one reference and compares
 * numbers without touching the items. Cancellation is left to the owner:
 * it marks its items dead, skips them when they pop, and calls
 * {@linkcode TimerHeap.compact} when too many dead ones pile up.
 *
 * @typeParam T The type of the stored items.
 *
 * @example Time order, ties in push order
 * ```ts
 * import { TimerHeap } from "./timer_heap.ts";
 *
 * const heap = new TimerHeap<string>();
 * heap.push(2, "c");
 * heap.push(1, "a");
 * heap.push(2, "d");
 * heap.push(1, "b");
 * const out: string[] = [];
 * while (heap.size > 0) out.push(heap.pop()!);
 * console.log(out.join("")); // abcd
 * ```
 */
export class TimerHeap<T> {
  #times: Float64Array;
  #seqs: Float64Array;
  #items: (T | undefined)[];
  #size = 0;
  #nextSeq = 0;

  /** Create an empty heap with room for `capacity` items before it grows. */
  constructor(capacity: number = INITIAL_CAPACITY) {
    const cap = Math.max(1, Math.floor(capacity));
    this.#times = new Float64Array(cap);
    this.#seqs = new Float64Array(cap);
    this.#items = [];
  }

  /** The number of items in the heap (dead ones included). */
  get size(): number {
    return this.#size;
  }

  /**
   * Add `item` at `time`; return the sequence number that breaks ties
   * (increasing by one per push, never reused).
   */
  push(time: number, item: T): number {
    if (this.#size === this.#times.length) this.#grow();
    const seq = this.#nextSeq++;
    this.#siftUp(this.#size++, time, seq, item);
    return seq;
  }

  /** The smallest time in the heap, or `Infinity` if it is empty. */
  peekTime(): number {
    return this.#size > 0 ? this.#times[0]! : Infinity;
  }

  /** The item with the smallest `(time, seq)`, without removing it. */
  peek(): T | undefined {
    return this.#size > 0 ? this.#items[0] : undefined;
  }

  /** Remove and return the item with the smallest `(time, seq)`. */
  pop(): T | undefined {
    const size = this.#size;
    if (size === 0) return undefined;
    const items = this.#items;
    const top = items[0];
    const last = size - 1;
    this.#size = last;
    if (last > 0) {
      const time = this.#times[last]!;
      const seq = this.#seqs[last]!;
      const item = items[last] as T;
      items[last] = undefined;
      this.#siftDown(0, time, seq, item);
    } else {
      items[0] = undefined;
    }
    return top;
  }

  /**
   * Drop every item for which `keep` returns `false` and rebuild the heap
   * in O(n). Surviving items keep their sequence numbers, so ties still
   * break in push order. Returns the number of items dropped.
   */
  compact(keep: (item: T) => boolean): number {
    const times = this.#times;
    const seqs = this.#seqs;
    const items = this.#items;
    const size = this.#size;
    let n = 0;
    for (let i = 0; i < size; i++) {
      const item = items[i] as T;
      if (!keep(item)) continue;
      times[n] = times[i]!;
      seqs[n] = seqs[i]!;
      items[n] = item;
      n++;
    }
    items.length = n;
    this.#size = n;
    for (let i = (n >>> 1) - 1; i >= 0; i--) {
      this.#siftDown(i, times[i]!, seqs[i]!, items[i] as T);
    }
    return size - n;
  }

  /** Call `fn(time, item)` for every item, in no particular order. */
  forEach(fn: (time: number, item: T) => void): void {
    const times = this.#times;
    const items = this.#items;
    for (let i = 0; i < this.#size; i++) fn(times[i]!, items[i] as T);
  }

  /** Remove every item. */
  clear(): void {
    this.#items = [];
    this.#size = 0;
  }

  #grow(): void {
    const cap = this.#times.length * 2;
    const times = new Float64Array(cap);
    times.set(this.#times);
    const seqs = new Float64Array(cap);
    seqs.set(this.#seqs);
    this.#times = times;
    this.#seqs = seqs;
  }

  // Move the hole at `i` up until `(time, seq)` fits, then put the entry there.
  #siftUp(i: number, time: number, seq: number, item: T): void {
    const times = this.#times;
    const seqs = this.#seqs;
    const items = this.#items;
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      const pt = times[parent]!;
      if (pt < time || (pt === time && seqs[parent]! < seq)) break;
      times[i] = pt;
      seqs[i] = seqs[parent]!;
      items[i] = items[parent];
      i = parent;
    }
    times[i] = time;
    seqs[i] = seq;
    items[i] = item;
  }

  // Move the hole at `i` down until `(time, seq)` fits, then put the entry there.
  #siftDown(i: number, time: number, seq: number, item: T): void {
    const times = this.#times;
    const seqs = this.#seqs;
    const items = this.#items;
    const size = this.#size;
    const half = size >>> 1;
    while (i < half) {
      let child = 2 * i + 1;
      let ct = times[child]!;
      let cs = seqs[child]!;
      const right = child + 1;
      if (right < size) {
        const rt = times[right]!;
        const rs = seqs[right]!;
        if (rt < ct || (rt === ct && rs < cs)) {
          child = right;
          ct = rt;
          cs = rs;
        }
      }
      if (time < ct || (time === ct && seq < cs)) break;
      times[i] = ct;
      seqs[i] = cs;
      items[i] = items[child];
      i = child;
    }
    times[i] = time;
    seqs[i] = seq;
    items[i] = item;
  }
}
