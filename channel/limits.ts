/**
 * The limits that protect a server from slow or greedy peers, their default
 * values, and the {@linkcode BufferBudget} that all channels of one server
 * share. `docs/security.md` lists them all.
 *
 * @module
 */

/**
 * Default `frameTimeout`: a frame that has started arriving must be complete within 30 s.
 *
 * @example
 * ```ts
 * import { DEFAULT_FRAME_TIMEOUT } from "@aiomas/aiomas/channel";
 * console.log(DEFAULT_FRAME_TIMEOUT); // 30
 * ```
 */
export const DEFAULT_FRAME_TIMEOUT = 30;
/**
 * Default `maxConcurrentRequests`: incoming requests not yet answered, per connection.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_CONCURRENT_REQUESTS } from "@aiomas/aiomas/channel";
 * console.log(DEFAULT_MAX_CONCURRENT_REQUESTS); // 1024
 * ```
 */
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 1024;
/**
 * Default `maxConnections` of a server.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_CONNECTIONS } from "@aiomas/aiomas/channel";
 * console.log(DEFAULT_MAX_CONNECTIONS); // 10000
 * ```
 */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/**
 * Default `maxBufferedBytes` of a server: 256 MiB of read buffers and queued output.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_BUFFERED_BYTES } from "@aiomas/aiomas/channel";
 * console.log(DEFAULT_MAX_BUFFERED_BYTES / 2 ** 20); // 256
 * ```
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024 * 1024;

/** One channel's share of a {@linkcode BufferBudget}. */
export interface BudgetAccount {
  /** Bytes this account holds; kept up to date by the budget. */
  held: number;
  /** Close the owner because the budget needs its memory; must release the account. */
  evict(reason: string): void;
  /** Give back memory the owner holds but does not use (an idle grown buffer), if any. */
  trim?(): void;
}

/** What {@linkcode BufferBudget.request} decided. */
export type BudgetAnswer = "granted" | "wait" | "over";

/**
 * A budget of bytes shared by many channels: their grown read buffers and
 * queued output. Every account is guaranteed an equal share (the budget
 * divided by the accounts holding memory); an account that needs more gets
 * it while the budget has room. When it is full, idle buffers are released
 * first (accounts' `trim`); then whoever holds more than its
 * share is closed to make room for one within its share, so one greedy peer
 * cannot pin memory the others need, and an account that would exceed its
 * share is refused (its connection closes). Should the budget still be full
 * (output is taken beyond it), an account within its share waits: its
 * channel stops reading until memory is released.
 *
 * `startServer` makes one per server from the `maxBufferedBytes` option;
 * pass the same one as `bufferBudget` to several servers to share it.
 *
 * @example
 * ```ts
 * import { BufferBudget, startServer } from "@aiomas/aiomas/channel";
 * const budget = new BufferBudget(64 * 1024 * 1024);
 * const a = await startServer("tcp://127.0.0.1:0", () => {}, { bufferBudget: budget });
 * const b = await startServer("tcp://127.0.0.1:0", () => {}, { bufferBudget: budget });
 * console.log(budget.used); // 0
 * await a.close();
 * await b.close();
 * ```
 */
export class BufferBudget {
  /** The budget in bytes. */
  readonly limit: number;
  #used = 0;
  #holders = new Set<BudgetAccount>();
  #waiters = new Set<() => void>();

  /** A budget of `limit` bytes (default {@linkcode DEFAULT_MAX_BUFFERED_BYTES}). */
  constructor(limit: number = DEFAULT_MAX_BUFFERED_BYTES) {
    if (!(limit > 0)) throw new RangeError(`BufferBudget limit must be positive, not ${limit}`);
    this.limit = limit;
  }

  /** Bytes held by all accounts. */
  get used(): number {
    return this.#used;
  }

  /** The share every account is guaranteed now, in bytes. */
  share(account?: BudgetAccount): number {
    const count = this.#holders.size + (account && account.held === 0 ? 1 : 0);
    return this.limit / Math.max(1, count);
  }

  /**
   * Ask for `bytes` more for `account`. `"granted"`: taken. `"over"`: the
   * account would hold more than its share of a full budget (close it).
   * `"wait"`: within its share but the budget is full; try again after
   * {@linkcode BufferBudget.waitForRoom}.
   */
  request(account: BudgetAccount, bytes: number): BudgetAnswer {
    if (this.#used + bytes <= this.limit) {
      this.#take(account, bytes);
      return "granted";
    }
    // Memory nobody uses goes first.
    for (const holder of [...this.#holders]) holder.trim?.();
    if (this.#used + bytes <= this.limit) {
      this.#take(account, bytes);
      return "granted";
    }
    const share = this.share(account);
    if (account.held + bytes > share) return "over";
    this.#evictOverShare(share, account, bytes);
    if (this.#used + bytes > this.limit) return "wait";
    this.#take(account, bytes);
    return "granted";
  }

  /**
   * Take `bytes` for `account` even beyond the limit (output that is already
   * encoded); when that overfills the budget, accounts above their share are
   * closed, the greediest first, possibly `account` itself.
   */
  force(account: BudgetAccount, bytes: number): void {
    this.#take(account, bytes);
    if (this.#used > this.limit) this.#evictOverShare(this.share(), undefined, 0);
  }

  /** Take `bytes` for `account` even beyond the limit, closing no one. */
  take(account: BudgetAccount, bytes: number): void {
    this.#take(account, bytes);
  }

  /** Give back `bytes` of `account`. */
  release(account: BudgetAccount, bytes: number): void {
    if (bytes <= 0) return;
    account.held -= bytes;
    this.#used -= bytes;
    if (account.held <= 0) {
      this.#used -= account.held;
      account.held = 0;
      this.#holders.delete(account);
    }
    if (this.#waiters.size > 0) {
      const waiters = [...this.#waiters];
      this.#waiters.clear();
      for (const wake of waiters) wake();
    }
  }

  /** Give back everything `account` holds. */
  releaseAll(account: BudgetAccount): void {
    this.release(account, account.held);
  }

  /**
   * Call `wake` once, the next time memory is released; returns a function
   * that cancels the wait.
   */
  onRoom(wake: () => void): () => void {
    this.#waiters.add(wake);
    return () => this.#waiters.delete(wake);
  }

  #take(account: BudgetAccount, bytes: number): void {
    if (bytes <= 0) return;
    if (account.held === 0) this.#holders.add(account);
    account.held += bytes;
    this.#used += bytes;
  }

  /** Close accounts above `share`, greediest first, until `bytes` more fit. */
  #evictOverShare(share: number, spare: BudgetAccount | undefined, bytes: number): void {
    while (this.#used + bytes > this.limit) {
      let greediest: BudgetAccount | undefined;
      for (const holder of this.#holders) {
        if (holder !== spare && holder.held > share && holder.held > (greediest?.held ?? 0)) {
          greediest = holder;
        }
      }
      if (greediest === undefined) return;
      const held = greediest.held;
      greediest.evict(
        `the server's buffer budget (${this.limit} bytes, maxBufferedBytes) is full and this ` +
          `connection holds ${held} bytes, more than its share of ${Math.floor(share)}`,
      );
      // The owner must release its account when closed; make sure it did.
      if (greediest.held > 0) this.releaseAll(greediest);
    }
  }
}
