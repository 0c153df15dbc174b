/**
 * SqliteStore on a file in a temporary directory, measured as an application uses it: built in the bench's scope,
 * prefilled through `setMany`, every operation yielded inside the one Effect program the whole bench runs in. Opened
 * through the public API only (`SqliteStore.make({ filename })`), so what the store does with a value (e.g. large
 * values kept as files beside the database) shows in the figures. The index configuration (`SqliteStore.makeIndex`)
 * is an engine of the index section.
 */
import * as SqliteStore from "effect-kv/SqliteStore"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as path from "node:path"
import * as Driver from "../drivers/effect.js"
import * as Engine from "../drivers/engine.js"
import type { Fixture } from "../harness.js"
import type { Subject } from "../session.js"

/** Opens a store on a fresh file in `dir` for the scope and prefills it. */
export const subject = (dir: string, fx: Fixture): Effect.Effect<Subject, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* SqliteStore.make({ filename: path.join(dir, "store.db") })
    yield* Driver.prefill(store, fx)
    const measure = yield* Driver.ready(store, fx)
    return { name: "SqliteStore", group: "sqlite", workloads: ["get", "set", "setMany"], measure }
  })

/** Opens a store on `filename` for the scope as the engine of the scaling, values and batch sections. */
export const engine = (filename: string): Effect.Effect<Engine.Engine, unknown, Scope.Scope> =>
  Effect.map(SqliteStore.make({ filename }), (store) => Engine.effect("SqliteStore", store))

/** Opens the index configuration on `filename` for the scope as an engine of the index section. */
export const indexEngine = (filename: string): Effect.Effect<Engine.Engine, unknown, Scope.Scope> =>
  Effect.map(SqliteStore.makeIndex({ filename }), (store) => Engine.effect("SqliteStore.makeIndex", store))
