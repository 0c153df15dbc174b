/**
 * The L1 of a `Tiered` store: a private MemoryStore, driven through its synchronous primitives, with the bookkeeping
 * that keeps it from holding a value older than the L2's. A read or a write that fills the L1 notes the invalidation
 * sequence number before it goes to the L2 (`begin`) and fills only if nothing invalidated its key (or everything)
 * since (`fresh`), so a value read before a concurrent write (of this instance, or of another one announced on the
 * bus) never lands in the L1 after that write's invalidation.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { KeyRange, Primitives } from "../../KeyValueStore.js"
import type { Drop } from "./bus.js"

type Fast = NonNullable<Primitives["unsafe"]>

/** The L1 and its bookkeeping. */
export class L1 {
  private seq = 0
  private clearedAt = 0
  private readonly marks = new Map<string, number>()
  private inFlight = 0
  /** Whether the L1 may be read and filled (false while the bus is disconnected). */
  usable = true
  hits = 0
  misses = 0
  fills = 0
  dropped = 0

  constructor(
    private readonly primitives: Primitives,
    private readonly fast: Fast,
    private readonly capMillis: number | undefined
  ) {}

  /** The value of a live L1 entry, counted as an L1 hit or miss. */
  get(key: string, now: number): Option.Option<Uint8Array> {
    const found = this.fast.get(key, now)
    if (found._tag === "Some") this.hits++
    else this.misses++
    return found
  }

  has(key: string, now: number): boolean {
    return this.fast.has(key, now)
  }

  /** Starts an operation that may fill the L1: its sequence number. Pair with `end`. */
  begin(): number {
    this.inFlight++
    return this.seq
  }

  end(): void {
    if (--this.inFlight === 0) this.marks.clear()
  }

  /** Whether nothing invalidated `key` since `since` (and the L1 is usable). */
  fresh(key: string, since: number): boolean {
    return this.usable && this.clearedAt <= since && (this.marks.get(key) ?? 0) <= since
  }

  /**
   * Puts a value read from (or just written to) the L2 into the L1, if still fresh, with the smaller of the L1's cap
   * and the entry's remaining ttl (`expiresAt`: absolute, `null` for none).
   */
  fill(key: string, value: Uint8Array, expiresAt: number | null, now: number, since: number): void {
    if (!this.fresh(key, since)) return
    this.put(key, value, expiresAt, now)
  }

  /** After a write of `value` to the L2 begun at `since`: drops the key, then puts the new value if still fresh. */
  replace(key: string, value: Uint8Array, expiresAt: number | null, now: number, since: number): void {
    const fresh = this.fresh(key, since)
    this.dropKey(key, now)
    if (fresh) this.put(key, value, expiresAt, now)
  }

  private put(key: string, value: Uint8Array, expiresAt: number | null, now: number): void {
    const cap = this.capMillis
    const at = cap === undefined ? expiresAt : expiresAt === null ? now + cap : Math.min(expiresAt, now + cap)
    if (at !== null && at <= now) return
    try {
      this.fast.set(key, value, { expiresAt: at, tags: [], metadata: null }, now)
      this.fills++
    } catch {
      // A value the L1 cannot hold (larger than its maxSize) is simply not cached.
      this.fast.remove(key, now)
    }
  }

  dropKey(key: string, now: number): void {
    this.seq++
    if (this.inFlight > 0) this.marks.set(key, this.seq)
    if (this.fast.remove(key, now)) this.dropped++
  }

  dropAll(): void {
    this.seq++
    this.clearedAt = this.seq
    this.marks.clear()
    Effect.runSync(this.primitives.clear)
  }

  dropRange(range: KeyRange, now: number): void {
    this.seq++
    this.clearedAt = this.seq
    this.marks.clear()
    const removeRange = this.primitives.removeRange
    if (removeRange === undefined) Effect.runSync(this.primitives.clear)
    else this.dropped += Effect.runSync(removeRange(range, now))
  }

  drop(what: Drop, now: number): void {
    switch (what._tag) {
      case "Keys":
        for (const key of what.keys) this.dropKey(key, now)
        return
      case "Range":
        return this.dropRange({ prefix: what.prefix, after: what.after }, now)
      case "All":
        return this.dropAll()
    }
  }

  size(now: number): number {
    return Effect.runSync(this.primitives.size(now))
  }
}
