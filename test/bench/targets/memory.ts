/**
 * MemoryStore against its floor, a bare `Map<string, Buffer>`: single `get` hits and single `set` of fresh keys. A
 * third target, the same `Map` behind `Effect.sync`, shows what one effect step per operation costs on this machine
 * before any store logic: the practical ceiling of an Effect-returning store. MemoryStore is also an engine of the
 * scaling section.
 */
import * as MemoryStore from "effect-kv/MemoryStore"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as EffectDriver from "../drivers/effect.js"
import * as Engine from "../drivers/engine.js"
import * as SyncDriver from "../drivers/sync.js"
import type { Fixture, Measure, Workload } from "../harness.js"
import type { Subject } from "../session.js"

const WORKLOADS: ReadonlyArray<Workload> = ["get", "set"]

const subject = (name: string) => (measure: Measure): Subject => ({
  name,
  group: "memory",
  workloads: WORKLOADS,
  measure
})

const mapTarget = (map: Map<string, Uint8Array>): SyncDriver.SyncTarget => ({
  get: (key) => map.get(key),
  set: (key, value) => {
    map.set(key, value)
  },
  setMany: (entries) => {
    for (const [key, value] of entries) map.set(key, value)
  },
  removeMany: (keys) => {
    for (const key of keys) map.delete(key)
  }
})

const bytes = (value: Uint8Array | string): Uint8Array => typeof value === "string" ? Buffer.from(value) : value

const syncStore = (map: Map<string, Uint8Array>): EffectDriver.Store => ({
  get: (key) => Effect.sync(() => Option.fromNullable(map.get(key))),
  set: (key, value) =>
    Effect.sync(() => {
      map.set(key, bytes(value))
    }),
  setMany: (entries) =>
    Effect.sync(() => {
      for (const [key, value] of entries) map.set(key, bytes(value))
    }),
  removeMany: (keys) =>
    Effect.sync(() => {
      let n = 0
      for (const key of keys) if (map.delete(key)) n++
      return n
    })
})

/** The floor: a prefilled `Map` called directly. */
export const map = (fx: Fixture): Effect.Effect<Subject, Error> =>
  Effect.suspend(() => {
    const t = mapTarget(new Map())
    SyncDriver.prefill(t, fx)
    return Effect.map(SyncDriver.ready(t, fx), subject("Map"))
  })

/** The Effect ceiling: a prefilled `Map` behind `Effect.sync`. */
export const effectMap = (fx: Fixture): Effect.Effect<Subject, unknown> =>
  Effect.suspend(() => {
    const store = syncStore(new Map())
    return EffectDriver.prefill(store, fx).pipe(
      Effect.zipRight(EffectDriver.ready(store, fx)),
      Effect.map(subject("Effect.sync(Map)"))
    )
  })

/** MemoryStore, built in the bench's scope and prefilled. */
export const memoryStore = (fx: Fixture): Effect.Effect<Subject, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* MemoryStore.make()
    yield* EffectDriver.prefill(store, fx)
    return subject("MemoryStore")(yield* EffectDriver.ready(store, fx))
  })

/** MemoryStore, built in the scope, as the engine of the scaling section. */
export const engine: Effect.Effect<Engine.Engine, unknown, Scope.Scope> = Effect.map(
  MemoryStore.make(),
  (store) => Engine.effect("MemoryStore", store)
)
