/**
 * The primitives of `Routing`: one store over the stores of several routes, each key (and lock name) going to the
 * store of the first route whose glob matches it, or to the default store. Keyed primitives go to the key's store,
 * batches are split by store and answered in the order asked, enumeration pages are merged across stores in key
 * order (with the fan-out's `mergedPage`), and store-wide primitives sum over the stores. A store only holds keys
 * routed to it when everything goes through the router; enumeration does not rely on it: each store's rows are
 * filtered to the keys routed to it, unless every key of the range is (then the engine counts and removes the range
 * itself), and a store none of whose routes can match a key of the range is not read at all.
 *
 * A transaction region opens a transaction on every store (in one order, so concurrent regions cannot deadlock), so
 * that reads, forked fibers and waiting fibers behave as on one store, and allows changes to one store only: the first
 * change claims its store, a change to another store fails with `Unsupported` and dooms the region (it rolls back even
 * when the failure is caught), so the commit never has to be atomic across stores.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type * as KeyValueStore from "../KeyValueStore.js"
import { type KeyValueStoreError, Unsupported } from "../KeyValueStoreError.js"
import type * as Pattern from "../Pattern.js"
import type * as leases from "./leases.js"
import type * as regions from "./regions.js"
import * as fanout from "./sqlite/fanout.js"
import type * as Wrapper from "./wrapper.js"

/**
 * The routes of a router: compiled patterns with their stores, and the default store.
 *
 * @internal
 */
export interface Routes {
  readonly routes: ReadonlyArray<readonly [Pattern.Pattern, KeyValueStore.Service]>
  readonly default: KeyValueStore.Service
}

type Scan<R> = (range: KeyValueStore.ScanRange, now: number) => Effect.Effect<ReadonlyArray<R>, KeyValueStoreError>

// The changes a transaction region made: the one store they went to, and the refusal that dooms it.
interface Root {
  store: number | undefined
  refusal: Unsupported | undefined
}

// One (possibly nested) region; fibers forked inside it inherit it, and it stops counting once it ended.
interface Region {
  readonly root: Root
  open: boolean
}

const BACKEND = "routing"

const identity = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => effect

const sum = (counts: ReadonlyArray<number>): number => counts.reduce((a, b) => a + b, 0)

/**
 * The primitives of a router over `routes` (all stores of one separator, checked by the caller).
 *
 * @internal
 */
export const primitives = (config: Routes): Wrapper.OwnPrimitives => {
  // Distinct stores (a store given to several routes is one store), and the store of each route, the default last.
  const stores: Array<KeyValueStore.Service> = []
  const indexOf = (store: KeyValueStore.Service): number => {
    const i = stores.indexOf(store)
    if (i >= 0) return i
    stores.push(store)
    return stores.length - 1
  }
  const patterns = config.routes.map(([pattern]) => pattern)
  const routeStores = config.routes.map(([, store]) => indexOf(store))
  const defaultStore = indexOf(config.default)
  const ps = stores.map((store) => store.primitives)
  const every = (name: keyof KeyValueStore.Primitives): boolean => ps.every((p) => p[name] !== undefined)

  const storeOf = (key: string): number => {
    for (let i = 0; i < patterns.length; i++) {
      if (patterns[i]!.matches(key)) return routeStores[i]!
    }
    return defaultStore
  }
  const at = (key: string): KeyValueStore.Primitives => ps[storeOf(key)]!

  // The stores that may hold keys starting with `prefix`: a route's pattern matches only keys starting with its
  // literal prefix, so a route whose prefix is neither a prefix of `prefix` nor starts with it is skipped, and a route
  // matching every key of the range (exhaustive, with a prefix `prefix` starts with) hides the routes after it.
  const storesOf = (prefix: string): ReadonlyArray<number> => {
    const out: Array<number> = []
    const add = (s: number) => {
      if (!out.includes(s)) out.push(s)
    }
    for (let i = 0; i < patterns.length; i++) {
      const route = patterns[i]!
      const within = prefix.startsWith(route.prefix)
      if (within || route.prefix.startsWith(prefix)) {
        add(routeStores[i]!)
        if (within && route.exhaustive) return out
      }
    }
    add(defaultStore)
    return out
  }

  // Each router has its own regions, seen by every fiber forked inside one.
  const current = FiberRef.unsafeMake<Region | undefined>(undefined)
  const regionOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Region | undefined => {
    const region = fiber.getFiberRef(current)
    return region !== undefined && region.open ? region : undefined
  }
  // Claims store `s` for the changes of `region`: undefined when it may change it, otherwise the refusal, which
  // dooms the region.
  const claim = (region: Region, s: number, method: string, key: string | undefined): Unsupported | undefined => {
    const root = region.root
    if (root.store === undefined) root.store = s
    if (root.store === s) return undefined
    const refusal = new Unsupported(
      key === undefined ? { method, backend: BACKEND } : { method, key, backend: BACKEND }
    )
    if (root.refusal === undefined) root.refusal = refusal
    return refusal
  }
  // A change to store `s`, claimed before it runs.
  const changing = <A>(
    method: string,
    key: string | undefined,
    s: number,
    self: Effect.Effect<A, KeyValueStoreError>
  ): Effect.Effect<A, KeyValueStoreError> =>
    Effect.withFiberRuntime((fiber) => {
      const region = regionOf(fiber)
      if (region === undefined) return self
      const refusal = claim(region, s, method, key)
      return refusal === undefined ? self : Effect.fail(refusal)
    })
  // An operation on store `s` that may change it, claimed once it turns out it did.
  const changed = <A>(
    method: string,
    key: string | undefined,
    s: number,
    self: Effect.Effect<A, KeyValueStoreError>,
    didChange: (a: A) => boolean
  ): Effect.Effect<A, KeyValueStoreError> =>
    Effect.withFiberRuntime((fiber) => {
      const region = regionOf(fiber)
      if (region === undefined) return self
      return Effect.flatMap(self, (a) => {
        const refusal = didChange(a) ? claim(region, s, method, key) : undefined
        return refusal === undefined ? Effect.succeed(a) : Effect.fail(refusal)
      })
    })
  const counted = (
    method: string,
    s: number,
    self: Effect.Effect<number, KeyValueStoreError>
  ): Effect.Effect<number, KeyValueStoreError> => changed(method, undefined, s, self, (n) => n > 0)

  // Runs `f` on each store (one after the other) and sums the counts.
  const summed = (
    targets: ReadonlyArray<number>,
    f: (s: number) => Effect.Effect<number, KeyValueStoreError>
  ): Effect.Effect<number, KeyValueStoreError> => Effect.map(Effect.forEach(targets, f), sum)
  const all = stores.map((_, s) => s)

  // A fenced write runs on the store of its lock's lease (the store checks it atomically with the write), so every key
  // it touches must be routed there.
  const onFenceStore = <A>(
    method: string,
    key: string | undefined,
    keys: ReadonlyArray<string>,
    fence: KeyValueStore.Fence,
    f: (s: number) => Effect.Effect<A, KeyValueStoreError>
  ): Effect.Effect<A, KeyValueStoreError> => {
    const s = storeOf(fence.name)
    return keys.every((k) => storeOf(k) === s)
      ? f(s)
      : Effect.fail(
        new Unsupported(key === undefined ? { method, backend: BACKEND } : { method, key, backend: BACKEND })
      )
  }

  // Store `s`'s rows of `scan`, keeping only the keys routed to it, a page of at most `limit` of them.
  const filtered = <R>(scan: Scan<R>, keyOf: (row: R) => string, s: number): Scan<R> => (range, now) =>
    Effect.gen(function*() {
      const out: Array<R> = []
      let after = range.after
      while (true) {
        const rows = yield* scan({ prefix: range.prefix, after, limit: range.limit }, now)
        for (const row of rows) {
          if (storeOf(keyOf(row)) !== s) continue
          out.push(row)
          if (out.length === range.limit) return out
        }
        if (rows.length < range.limit) return out
        after = keyOf(rows[rows.length - 1]!)
      }
    })
  // The scan of each store that may hold keys of the range, filtered unless it is the only one (then every key of the
  // range is routed to it), merged in key order.
  const scanWith = <R>(
    scanOf: (p: KeyValueStore.Primitives) => Scan<R>,
    keyOf: (row: R) => string
  ): Scan<R> =>
  (range, now) => {
    const targets = storesOf(range.prefix)
    if (targets.length === 1) return scanOf(ps[targets[0]!]!)(range, now)
    return fanout.mergedPage(targets.map((s) => filtered(scanOf(ps[s]!), keyOf, s)), keyOf, range, now)
  }
  const PAGE = 1000
  // The keys of store `s` in `range` that are routed to it, page by page, each page given to `f`.
  const eachPage = (
    s: number,
    range: KeyValueStore.KeyRange,
    now: number,
    f: (keys: ReadonlyArray<string>) => Effect.Effect<number, KeyValueStoreError>
  ): Effect.Effect<number, KeyValueStoreError> => {
    const scan = filtered(ps[s]!.scanKeys!, (key) => key, s)
    const page = (after: string | undefined, total: number): Effect.Effect<number, KeyValueStoreError> =>
      Effect.flatMap(scan({ prefix: range.prefix, after, limit: PAGE }, now), (keys) =>
        Effect.flatMap(
          keys.length === 0 ? Effect.succeed(0) : f(keys),
          (n) => keys.length < PAGE ? Effect.succeed(total + n) : page(keys[keys.length - 1], total + n)
        ))
    return page(range.after, 0)
  }
  const removeKeys = (s: number, keys: ReadonlyArray<string>, now: number) => {
    const p = ps[s]!
    return p.removeMany
      ? p.removeMany(keys, now)
      : summed(keys.map((_, i) => i), (i) => Effect.map(p.remove(keys[i]!, now), (removed) => removed ? 1 : 0))
  }

  const unsafes = ps.map((p) => p.unsafe)
  const unsafe = unsafes.every((u) => u !== undefined)
    ? {
      get: (key: string, now: number) => unsafes[storeOf(key)]!.get(key, now),
      set: (key: string, value: Uint8Array, write: KeyValueStore.Write, now: number) =>
        unsafes[storeOf(key)]!.set(key, value, write, now),
      has: (key: string, now: number) => unsafes[storeOf(key)]!.has(key, now),
      remove: (key: string, now: number) => unsafes[storeOf(key)]!.remove(key, now)
    }
    : undefined

  // Each store's primitives wait for that store's regions themselves; the router's gate holds nothing back itself: it
  // keeps off the synchronous fast path (which skips the stores' gates and the claims) a fiber in a region of the
  // router or one that some store does not admit.
  const gates = ps.flatMap((p) => p.gate === undefined ? [] : [p.gate])
  const gate: regions.Gate = {
    admits: (fiber) => regionOf(fiber) === undefined && gates.every((g) => g.admits(fiber)),
    guard: identity,
    inRegion: (fiber) => regionOf(fiber) !== undefined || gates.some((g) => g.inRegion(fiber))
  }

  const transactional = ps.every((p) => p.capabilities.transactions && p.withTransaction && p.transaction)
  // A region of the router: a transaction on every store, the first outermost; nested, savepoints on every store.
  const withTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | KeyValueStoreError, R> =>
    Effect.withFiberRuntime((fiber) => {
      const outer = regionOf(fiber)
      const region: Region = { root: outer?.root ?? { store: undefined, refusal: undefined }, open: true }
      let self: Effect.Effect<A, E | KeyValueStoreError, R> = Effect.locally(effect, current, region).pipe(
        Effect.ensuring(Effect.sync(() => {
          region.open = false
        })),
        Effect.flatMap((a) => region.root.refusal === undefined ? Effect.succeed(a) : Effect.fail(region.root.refusal))
      )
      for (let s = ps.length - 1; s >= 0; s--) self = ps[s]!.withTransaction!(self)
      return self
    })
  // The scoped form: every store's scoped transaction in a scope of its own, closed as a failure when the region was
  // doomed (a failed close surfaces as a defect of the scope, as a store's failed commit does).
  const transaction: Effect.Effect<void, KeyValueStoreError, Scope.Scope> = Effect.gen(function*() {
    const outer = yield* FiberRef.get(current)
    const region: Region = {
      root: outer !== undefined && outer.open ? outer.root : { store: undefined, refusal: undefined },
      open: true
    }
    const scope = yield* Effect.scope
    const inner = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    yield* Scope.addFinalizerExit(scope, (exit) =>
      Effect.suspend(() => {
        region.open = false
        const refusal = Exit.isSuccess(exit) ? region.root.refusal : undefined
        return Effect.zipRight(
          Scope.close(inner, refusal === undefined ? exit : Exit.fail(refusal)),
          refusal === undefined ? Effect.void : Effect.die(refusal)
        )
      }))
    for (const p of ps) yield* Scope.extend(p.transaction!, inner)
    yield* Effect.locallyScopedWith(current, () => region)
  })

  const tables = ps.map((p) => p.leases)
  const leaseTable: leases.LeaseTable | undefined = tables.every((t) => t !== undefined)
    ? {
      origin: {},
      prefix: "",
      acquire: (name, owner, holders, now, expiresAt) =>
        tables[storeOf(name)]!.acquire(name, owner, holders, now, expiresAt),
      renew: (name, owner, now, expiresAt) => tables[storeOf(name)]!.renew(name, owner, now, expiresAt),
      release: (name, owner) => tables[storeOf(name)]!.release(name, owner)
    }
    : undefined

  const first = ps[0]!
  const capabilities = Object.fromEntries(
    Object.keys(first.capabilities).map((name) => [
      name,
      ps.every((p) => p.capabilities[name as keyof KeyValueStore.Capabilities])
    ])
  ) as unknown as KeyValueStore.Capabilities

  return {
    backend: BACKEND,
    capabilities: { ...capabilities, transactions: transactional },
    separator: config.default.separator,
    maxKeyBytes: Math.min(...ps.map((p) => p.maxKeyBytes ?? 1024)),
    maxValueBytes: Math.min(...ps.map((p) => p.maxValueBytes ?? 512 * 1024 * 1024)),
    get: (key, now) => at(key).get(key, now),
    getEntry: (key, now) => at(key).getEntry(key, now),
    has: (key, now) => {
      const p = at(key)
      return p.has ? p.has(key, now) : Effect.map(p.get(key, now), Option.isSome)
    },
    expiresAt: every("expiresAt") ? (key, now) => at(key).expiresAt!(key, now) : undefined,
    unsafe,
    set: (key, value, write, now, fence) =>
      fence === undefined
        ? changing("set", key, storeOf(key), at(key).set(key, value, write, now))
        : onFenceStore("set", key, [key], fence, (s) =>
          changing("set", key, s, ps[s]!.set(key, value, write, now, fence))),
    remove: (key, now, fence) =>
      fence === undefined
        ? changed("remove", key, storeOf(key), at(key).remove(key, now), identity1)
        : onFenceStore("remove", key, [key], fence, (s) =>
          changed("remove", key, s, ps[s]!.remove(key, now, fence), identity1)),
    modify: (key, now, f, fence) => {
      const s = fence === undefined ? storeOf(key) : storeOf(fence.name)
      if (fence !== undefined && storeOf(key) !== s) {
        return Effect.fail(new Unsupported({ method: "modify", key, backend: BACKEND }))
      }
      return Effect.withFiberRuntime((fiber) => {
        const region = regionOf(fiber)
        if (region === undefined) return ps[s]!.modify(key, now, f, fence)
        // A change the region may not make is turned into no change, then refused.
        let refusal: Unsupported | undefined
        const claimed: typeof f = (entry) => {
          const [a, mutation] = f(entry)
          if (mutation._tag === "Keep") return [a, mutation]
          refusal = claim(region, s, "modify", key)
          return refusal === undefined ? [a, mutation] : [a, { _tag: "Keep" }]
        }
        return Effect.flatMap(
          ps[s]!.modify(key, now, claimed, fence),
          (a) => refusal === undefined ? Effect.succeed(a) : Effect.fail(refusal)
        )
      })
    },
    touch: every("touch")
      ? (key, expiresAt, now, fence) =>
        fence === undefined
          ? changed("touch", key, storeOf(key), at(key).touch!(key, expiresAt, now), identity1)
          : onFenceStore("touch", key, [key], fence, (s) =>
            changed("touch", key, s, ps[s]!.touch!(key, expiresAt, now, fence), identity1))
      : undefined,
    // Expired entries are invisible: removing them changes nothing a region could be refused for.
    expire: (now) => summed(all, (s) => ps[s]!.expire(now)),
    clear: Effect.withFiberRuntime((fiber) =>
      regionOf(fiber) === undefined
        ? Effect.forEach(ps, (p) => p.clear, { discard: true })
        : Effect.forEach(all, (s) =>
          Effect.flatMap(
            Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (now) => ps[s]!.size(now)),
            (n) => n === 0 ? ps[s]!.clear : changing("clear", undefined, s, ps[s]!.clear)
          ), { discard: true })
    ),
    size: (now) => summed(all, (s) => ps[s]!.size(now)),
    getMany: (keys, now) => fanout.getManyByStore(ps, keys, now, storeOf),
    setMany: (entries, now, fence) => {
      const write = (s: number, list: ReadonlyArray<KeyValueStore.WriteEntry>) => {
        const p = ps[s]!
        return p.setMany
          ? p.setMany(list, now, fence)
          : Effect.forEach(list, (entry) => p.set(entry.key, entry.value, entry.write, now, fence), { discard: true })
      }
      if (fence !== undefined) {
        return onFenceStore(
          "setMany",
          undefined,
          entries.map((entry) => entry.key),
          fence,
          (s) => changing("setMany", undefined, s, write(s, entries))
        )
      }
      const groups = Array.from(fanout.byStore(entries, (entry) => entry.key, storeOf))
      // Every store of the batch is claimed before any is written.
      const claims = Effect.forEach(groups, ([s]) => changing("setMany", undefined, s, Effect.void), { discard: true })
      return Effect.zipRight(
        claims,
        Effect.forEach(groups, ([s, positions]) => write(s, positions.map((i) => entries[i]!)), { discard: true })
      )
    },
    removeMany: (keys, now, fence) =>
      fence !== undefined
        ? onFenceStore("removeMany", undefined, keys, fence, (s) =>
          counted(
            "removeMany",
            s,
            ps[s]!.removeMany
              ? ps[s]!.removeMany!(keys, now, fence)
              : Effect.fail(new Unsupported({ method: "removeMany", backend: BACKEND }))
          ))
        : Effect.map(
          Effect.forEach(
            fanout.byStore(keys, (key) => key, storeOf),
            ([s, positions]) => counted("removeMany", s, removeKeys(s, positions.map((i) => keys[i]!), now))
          ),
          sum
        ),
    // A store without `volume` counts 0, as its own `volume` answers.
    volume: ps.some((p) => p.volume !== undefined)
      ? summed(all, (s) => ps[s]!.volume ?? Effect.succeed(0))
      : undefined,
    counters: () => fanout.summedCounters(ps),
    resetCounters: () => fanout.resetCounters(ps),
    scanKeys: every("scanKeys") ? scanWith((p) => p.scanKeys!, (key) => key) : undefined,
    scanEntries: every("scanEntries") ? scanWith((p) => p.scanEntries!, (row) => row[0]) : undefined,
    countRange: every("scanKeys")
      ? (range, now) => {
        const targets = storesOf(range.prefix)
        if (targets.length === 1 && ps[targets[0]!]!.countRange) return ps[targets[0]!]!.countRange!(range, now)
        return summed(targets, (s) => eachPage(s, range, now, (keys) => Effect.succeed(keys.length)))
      }
      : undefined,
    removeRange: every("scanKeys")
      ? (range, now) => {
        const targets = storesOf(range.prefix)
        if (targets.length === 1 && ps[targets[0]!]!.removeRange) {
          const s = targets[0]!
          return counted("removeRange", s, ps[s]!.removeRange!(range, now))
        }
        return summed(
          targets,
          (s) => counted("removeRange", s, eachPage(s, range, now, (keys) => removeKeys(s, keys, now)))
        )
      }
      : undefined,
    removeTag: every("removeTag")
      ? (tag, now, range) =>
        summed(
          range === undefined ? all : storesOf(range.prefix),
          (s) => counted("removeTag", s, ps[s]!.removeTag!(tag, now, range))
        )
      : undefined,
    gate,
    withTransaction: transactional ? withTransaction : undefined,
    transaction: transactional ? transaction : undefined,
    leases: leaseTable,
    check: every("check")
      ? (options) => Effect.map(Effect.forEach(ps, (p) => p.check!(options)), fanout.combineChecks)
      : undefined
  }
}

const identity1 = (changed: boolean): boolean => changed
