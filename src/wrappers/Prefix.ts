/**
 * Namespaces: a store seen through a key prefix. Every key, tag, lock name and scanned range gains the prefix on the
 * way in and loses it on the way out, and the whole service is derived again over those primitives (the wrapper
 * helper's `rebuild`), so the namespace sees only its own entries: `clear`, `size`, `keys` and patterns (matched
 * against the keys without the prefix), tags (a namespace's tags are its own) and `stats` (counted per namespace; the
 * underlying store's own `stats` do not see namespace traffic). Store-wide by nature: `expire` (removes expired
 * entries of every namespace, which no read could see anyway), `volume`, transactions and `check`. Namespaces nest. A
 * key may be as long as the store allows without the prefix (the engine stores the prefix on top); argument errors
 * name the key as given, engine errors the full key. `KeyValueStore.prefix` and `KeyValueStore.layerPrefix` are short
 * forms of `make` and `layer`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as leases from "../internal/leases.js"
import { countMatching, removeMatching } from "../internal/service/enumeration.js"
import * as Wrapper from "../internal/wrapper.js"
import type { Entry, KeyRange, ScanRange, Service, Write } from "../KeyValueStore.js"
import { KeyValueStore } from "../KeyValueStore.js"
import { InvalidArgument } from "../KeyValueStoreError.js"

/**
 * Checks a prefix: `undefined` for a string of valid Unicode, otherwise the `InvalidArgument` that `make` throws and
 * `layer` fails with.
 *
 * @example
 * ```ts
 * import { Prefix } from "effect-kv"
 * Prefix.validate("tenant-1.") // undefined
 * Prefix.validate("\uD800") // InvalidArgument
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const validate = (prefix: string): InvalidArgument | undefined =>
  typeof prefix === "string" && prefix.isWellFormed()
    ? undefined
    : new InvalidArgument({ method: "prefix", argument: "prefix", reason: "expected a string of valid Unicode" })

// The primitives of a namespace. A namespace's keys are the keys strictly longer than the prefix (a key equal to it
// belongs to the store outside), and its tags are the tags carrying the prefix: an entry's other tags are not shown,
// and a write that keeps the entry's tags keeps them too. A fence names its lock as the engine's lease table does: it
// passes through unchanged.
const rebuild = (store: Service, ns: string): Service => {
  const p = store.primitives
  const cut = ns.length
  const add = (text: string) => ns + text
  const strip = (text: string) => text.slice(cut)
  const ownTag = (tag: string) => tag.length > cut && tag.startsWith(ns)
  const writeIn = (write: Write): Write => write.tags.length === 0 ? write : { ...write, tags: write.tags.map(add) }
  const entryOut = (entry: Entry): Entry => ({
    ...entry,
    key: strip(entry.key),
    tags: entry.tags.length === 0 ? entry.tags : Object.freeze(entry.tags.filter(ownTag).map(strip))
  })
  // The whole namespace: the keys after the prefix itself.
  const inside: KeyRange = { prefix: ns, after: ns }
  const keyRangeIn = (range: KeyRange): KeyRange =>
    range.after !== undefined
      ? { prefix: ns + range.prefix, after: ns + range.after }
      : range.prefix === ""
      ? inside
      : { prefix: ns + range.prefix, after: undefined }
  const rangeIn = (range: ScanRange): ScanRange => ({ ...keyRangeIn(range), limit: range.limit })
  const unsafe = p.unsafe
  return Wrapper.rebuild(store, {
    backend: Wrapper.inherit,
    capabilities: Wrapper.inherit,
    separator: Wrapper.inherit,
    maxKeyBytes: Wrapper.inherit,
    maxValueBytes: Wrapper.inherit,
    get: (key, now) => p.get(add(key), now),
    getEntry: (key, now) => Effect.map(p.getEntry(add(key), now), Option.map(entryOut)),
    set: (key, value, write, now, fence) => p.set(add(key), value, writeIn(write), now, fence),
    remove: (key, now, fence) => p.remove(add(key), now, fence),
    modify: (key, now, f, fence) =>
      p.modify(add(key), now, (current) => {
        const view = Option.map(current, entryOut)
        const [result, mutation] = f(view)
        if (mutation._tag !== "Write") return [result, mutation]
        // The write kept the tags it was shown (`entryWrite`): it keeps every tag of the entry, the hidden ones too.
        const kept = current._tag === "Some" && view._tag === "Some" && mutation.write.tags === view.value.tags
        const write = kept ? { ...mutation.write, tags: current.value.tags } : writeIn(mutation.write)
        return [result, { ...mutation, write }]
      }, fence),
    expire: Wrapper.inherit,
    clear: Effect.asVoid(
      Effect.flatMap(Clock.currentTimeMillis, (now) => removeMatching(p, "clear", inside, undefined, now))
    ),
    size: (now) => countMatching(p, "size", inside, now),
    has: p.has && ((key, now) => p.has!(add(key), now)),
    unsafe: unsafe && {
      get: (key, now) => unsafe.get(add(key), now),
      set: (key, value, write, now) => unsafe.set(add(key), value, writeIn(write), now),
      has: (key, now) => unsafe.has(add(key), now),
      remove: (key, now) => unsafe.remove(add(key), now)
    },
    getMany: p.getMany && ((keys, now) => p.getMany!(keys.map(add), now)),
    setMany: p.setMany &&
      ((entries, now, fence) =>
        p.setMany!(
          entries.map((entry) => ({ key: add(entry.key), value: entry.value, write: writeIn(entry.write) })),
          now,
          fence
        )),
    removeMany: p.removeMany && ((keys, now, fence) => p.removeMany!(keys.map(add), now, fence)),
    expiresAt: p.expiresAt && ((key, now) => p.expiresAt!(add(key), now)),
    touch: p.touch && ((key, expiresAt, now, fence) => p.touch!(add(key), expiresAt, now, fence)),
    volume: Wrapper.inherit,
    // A namespace counts its own statistics: the backend's counters are the whole store's.
    counters: undefined,
    resetCounters: undefined,
    scanKeys: p.scanKeys && ((range, now) => Effect.map(p.scanKeys!(rangeIn(range), now), (keys) => keys.map(strip))),
    scanEntries: p.scanEntries &&
      ((range, now) =>
        Effect.map(
          p.scanEntries!(rangeIn(range), now),
          (rows) => rows.map(([key, value]) => [strip(key), value] as const)
        )),
    countRange: p.countRange && ((range, now) => p.countRange!(keyRangeIn(range), now)),
    removeRange: p.removeRange && ((range, now) => p.removeRange!(keyRangeIn(range), now)),
    removeTag: p.removeTag &&
      ((tag, now, range) => p.removeTag!(ns + tag, now, range === undefined ? inside : keyRangeIn(range))),
    gate: Wrapper.inherit,
    withTransaction: Wrapper.inherit,
    transaction: Wrapper.inherit,
    leases: p.leases && leases.prefixed(p.leases, ns),
    check: Wrapper.inherit
  })
}

/**
 * The namespace of `prefix` over `store` (the store itself for `""`). Throws `InvalidArgument` for a prefix that is
 * not valid Unicode (`makeEffect` and `layer` fail with it instead).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, MemoryStore, Prefix } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* KeyValueStore.KeyValueStore
 *   const tenant = Prefix.make(store, "tenant-1.")
 *   yield* tenant.set("plan", "pro") // stored as "tenant-1.plan"
 *   yield* tenant.clear // removes only tenant-1's entries
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  (prefix: string): (store: Service) => Service
  (store: Service, prefix: string): Service
} = dual(2, (store: Service, prefix: string): Service => {
  const invalid = validate(prefix)
  if (invalid !== undefined) throw invalid
  return prefix === "" ? store : rebuild(store, prefix)
})

/**
 * `make` as an Effect: fails with `InvalidArgument` for a prefix that is not valid Unicode rather than throwing.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, Prefix } from "effect-kv"
 *
 * const tenant = Effect.flatMap(KeyValueStore.KeyValueStore, (store) => Prefix.makeEffect(store, "tenant-1."))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const makeEffect: {
  (prefix: string): (store: Service) => Effect.Effect<Service, InvalidArgument>
  (store: Service, prefix: string): Effect.Effect<Service, InvalidArgument>
} = dual(2, (store: Service, prefix: string): Effect.Effect<Service, InvalidArgument> =>
  Effect.suspend(() => {
    const invalid = validate(prefix)
    return invalid === undefined ? Effect.succeed(make(store, prefix)) : Effect.fail(invalid)
  }))

/**
 * The Layer form of `make`: needs a store and gives the namespace over it.
 *
 * @example
 * ```ts
 * import { KeyValueStore, Prefix, SqliteStore } from "effect-kv"
 *
 * const tenantStore = SqliteStore.layer({ filename: "data/kv.db" }).pipe(
 *   KeyValueStore.wrap(Prefix.layer("tenant-1."))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (prefix: string): Layer.Layer<KeyValueStore, InvalidArgument, KeyValueStore> =>
  Layer.effect(KeyValueStore, Effect.flatMap(KeyValueStore, (store) => makeEffect(store, prefix)))
