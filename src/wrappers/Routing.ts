/**
 * A store that routes each key to one of several stores by glob: `Routing.layer({ routes: [[pattern, layer], ...],
 * default: layer })` sends a key to the store of the first route whose pattern matches it, and every other key to the
 * default store (as unstorage's mounts and py-key-value's collection routing do, by pattern rather than by prefix).
 * Patterns use the default store's separator and the glob dialect of `Pattern`; every store must have that separator.
 *
 * - **Keys and batches**: a keyed operation runs on its key's store, with that store's atomicity; `getMany`,
 *   `setMany` and `removeMany` are split by store and answer in the order asked. A batch spanning stores is written
 *   store by store: atomic per store only.
 * - **Enumeration**: `keys`, `entries` and the pattern operations merge the stores' ordered pages in UTF-8 byte order,
 *   paged by key cursor as on one store. A store none of whose routes can hold a key of the pattern's literal prefix
 *   (the route's literal prefix and the pattern's are disjoint, or an earlier route takes every such key) is not read
 *   at all. Each store shows only the keys routed to it, so an entry that sits in a store but would be routed
 *   elsewhere (written there behind the router's back, or under other routes in a persistent store) is never shown;
 *   reads of its key go to the key's own store.
 * - **Store-wide operations**: every store is owned by the router (the layer builds them privately), so `clear`
 *   empties every store (one after the other, not atomically), and `size`, `expire`, `removeTag` and `volume`
 *   add up the stores; unlike enumeration, they count entries that would be routed elsewhere too. `stats` counts the
 *   router's own operations (the stores' own `stats` do not see them) plus the stores' evictions and expirations.
 *   `check` joins the stores' reports (lines prefixed `shard <i>:`, `i` the store's place in the order the stores
 *   first appear in the routes, then the default store; counts summed; `ok` when every store is).
 * - **Locks** are routed like keys: the lease of lock `name` lives in the store `name` is routed to. A fenced write
 *   (`{ fence: lock }`) is checked by that store in the write's own transaction, so every key it touches must be
 *   routed there too; otherwise it fails with `Unsupported`.
 * - **Transactions** (when every store has them): a region opens a transaction on every store, so reads of any route,
 *   forked fibers and other fibers' waiting behave as on one store, but it may change one store only: the first change
 *   claims that store, and a change to another store fails with `Unsupported` before it is written (a removal, once it
 *   turns out to have removed something) and dooms the region: it rolls back even if the failure is caught, so nothing
 *   of it is written. Store-wide changes inside a region (`clear`, `removeTag`, `removePattern`) count only for the
 *   stores they changed; `expire` changes nothing visible and counts for none. Nested regions are savepoints on every
 *   store. Opening a transaction on every store costs one per store (a SQLite store takes its file's write lock), and
 *   regions of the router wait for each other as on one store. The same store given to several routes is one store:
 *   a region may change the keys of all those routes.
 * - **Capabilities** are those every store has (`orderedKeys`, `transactions`, `fencedWrites`, ...); the longest key
 *   and largest value are the smallest limits of the stores.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as routing from "../internal/routing.js"
import * as Wrapper from "../internal/wrapper.js"
import * as KeyValueStore from "../KeyValueStore.js"
import { InvalidArgument } from "../KeyValueStoreError.js"
import * as Pattern from "../Pattern.js"

/**
 * A route: a glob (or a compiled `Pattern` of the default store's separator) and where its keys go.
 *
 * @since 0.1.0
 * @category models
 */
export type Route<S> = readonly [pattern: string | Pattern.Pattern, store: S]

/**
 * Options of a router over stores `S` (services for `make`, layers for `layer`): at least one route, tried in order,
 * and the default store for every key no route matches.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<S> {
  readonly routes: ReadonlyArray<Route<S>>
  readonly default: S
}

const invalid = (method: string, argument: string, reason: string) => new InvalidArgument({ method, argument, reason })

// The routes' shape (a non-empty array of pairs, a default), before anything is built.
const checkShape = (
  method: string,
  options: unknown,
  isStore: (u: unknown) => boolean,
  what: string
): InvalidArgument | undefined => {
  if (typeof options !== "object" || options === null) return invalid(method, "options", "expected an object")
  const { default: fallback, routes } = options as { readonly routes?: unknown; readonly default?: unknown }
  if (!Array.isArray(routes)) return invalid(method, "routes", "expected an array of [pattern, store] pairs")
  if (routes.length === 0) return invalid(method, "routes", "expected at least one route")
  for (let i = 0; i < routes.length; i++) {
    const route: unknown = routes[i]
    if (!Array.isArray(route) || route.length !== 2) {
      return invalid(method, "routes", `route ${i}: expected a [pattern, ${what}] pair`)
    }
    if (typeof route[0] !== "string" && !Pattern.isPattern(route[0])) {
      return invalid(method, "routes", `route ${i}: expected a glob pattern or a compiled Pattern`)
    }
    if (!isStore(route[1])) return invalid(method, "routes", `route ${i}: expected a ${what}`)
  }
  if (!isStore(fallback)) return invalid(method, "default", `expected a ${what}`)
  return undefined
}

// The patterns compiled for `separator`: a malformed glob, or a Pattern of another separator, is InvalidArgument.
const compileAll = (
  method: string,
  sources: ReadonlyArray<string | Pattern.Pattern>,
  separator: string
): Array<Pattern.Pattern> | InvalidArgument => {
  const out: Array<Pattern.Pattern> = []
  for (let i = 0; i < sources.length; i++) {
    const source = sources[i]!
    if (Pattern.isPattern(source)) {
      if (source.separator !== separator) {
        return invalid(
          method,
          "routes",
          `route ${i}: the pattern is compiled for separator ${
            JSON.stringify(source.separator)
          }, the default store's is ${JSON.stringify(separator)}`
        )
      }
      out.push(source)
      continue
    }
    const compiled = Pattern.compile(source, { separator, method })
    if (Either.isLeft(compiled)) {
      return invalid(method, "routes", `route ${i}: ${JSON.stringify(source)}: ${compiled.left.reason}`)
    }
    out.push(compiled.right)
  }
  return out
}

const build = (
  method: string,
  patterns: ReadonlyArray<Pattern.Pattern>,
  stores: ReadonlyArray<KeyValueStore.Service>,
  fallback: KeyValueStore.Service
): KeyValueStore.Service | InvalidArgument => {
  for (let i = 0; i < stores.length; i++) {
    if (stores[i]!.separator !== fallback.separator) {
      return invalid(
        method,
        "routes",
        `route ${i}: its store's separator is ${JSON.stringify(stores[i]!.separator)}, the default store's is ${
          JSON.stringify(fallback.separator)
        }: every store must have one separator`
      )
    }
  }
  return Wrapper.combine(routing.primitives({
    routes: patterns.map((pattern, i) => [pattern, stores[i]!] as const),
    default: fallback
  }))
}

/**
 * The router over stores already built: each key goes to the store of the first route whose pattern matches it, or to
 * the default store. Fails with `InvalidArgument` on an empty route list, a malformed pattern, something that is not
 * a store, or stores of different separators. The stores should be used only through the router (see the module
 * documentation for what `clear` and `size` cover).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MemoryStore, Routing } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const users = yield* MemoryStore.make()
 *   const cache = yield* MemoryStore.make()
 *   const rest = yield* MemoryStore.make()
 *   const store = yield* Routing.make({ routes: [["users.**", users], ["cache.*", cache]], default: rest })
 *   yield* store.set("users.1.name", "Ada") // in `users`
 *   yield* store.set("cache.page", "<html>") // in `cache`
 *   yield* store.set("settings", "{}") // in `rest`
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options<KeyValueStore.Service>
): Effect.Effect<KeyValueStore.Service, InvalidArgument> =>
  Effect.suspend(() => {
    const shape = checkShape("make", options, KeyValueStore.isKeyValueStore, "KeyValueStore")
    if (shape !== undefined) return Effect.fail(shape)
    const patterns = compileAll("make", options.routes.map(([pattern]) => pattern), options.default.separator)
    if (patterns instanceof InvalidArgument) return Effect.fail(patterns)
    const store = build("make", patterns, options.routes.map(([, store]) => store), options.default)
    return store instanceof InvalidArgument ? Effect.fail(store) : Effect.succeed(store)
  })

type AnyStoreLayer = Layer.Layer<KeyValueStore.KeyValueStore, any, any>

/**
 * A layer providing the router as the `KeyValueStore`. The route stores and the default store are built privately in
 * the layer's scope (no other code sees them) and closed with it: the default store first (its separator is the one of
 * the patterns, so a malformed pattern fails before the route stores are built), then each route's in order. An empty
 * route list, a malformed pattern or stores of different separators fail the layer with `InvalidArgument`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, MemoryStore, Routing, SqliteStore } from "effect-kv"
 *
 * const Store = Routing.layer({
 *   routes: [["cache.**", MemoryStore.layer({ maxEntries: 10_000 })]],
 *   default: SqliteStore.layer({ filename: "data/kv.db" })
 * })
 *
 * Effect.flatMap(KeyValueStore.KeyValueStore, (store) => store.set("cache.home", "<html>")).pipe(Effect.provide(Store))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = <
  const Routes extends ReadonlyArray<Route<AnyStoreLayer>>,
  Default extends AnyStoreLayer
>(
  options: { readonly routes: Routes; readonly default: Default }
): Layer.Layer<
  KeyValueStore.KeyValueStore,
  InvalidArgument | Layer.Layer.Error<Routes[number][1] | Default>,
  Exclude<Layer.Layer.Context<Routes[number][1] | Default>, Scope.Scope>
> =>
  Layer.scoped(
    KeyValueStore.KeyValueStore,
    Effect.gen(function*() {
      const shape = checkShape("layer", options, Layer.isLayer, "Layer")
      if (shape !== undefined) return yield* shape
      const built = (layer: AnyStoreLayer) =>
        Effect.map(Layer.build(layer), (context) => Context.get(context, KeyValueStore.KeyValueStore))
      const fallback = yield* built(options.default)
      const patterns = compileAll("layer", options.routes.map(([pattern]) => pattern), fallback.separator)
      if (patterns instanceof InvalidArgument) return yield* patterns
      const stores = yield* Effect.forEach(options.routes, ([, layer]) => built(layer))
      const store = build("layer", patterns, stores, fallback)
      if (store instanceof InvalidArgument) return yield* store
      return store
    })
  )
