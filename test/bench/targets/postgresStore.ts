/**
 * PostgresStore on the bench's PostgreSQL server, measured as an application uses it: built in the bench's scope
 * through the public API only (`PostgresStore.make({ url, table })` with a table of this run), prefilled through
 * `setMany`, every operation yielded inside the one Effect program the whole bench runs in. Its pool, statement
 * building and error mapping are part of its figures.
 */
import * as PostgresStore from "effect-kv/PostgresStore"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Driver from "../drivers/effect.js"
import type { Fixture } from "../harness.js"
import * as Servers from "../servers.js"
import type { Subject } from "../session.js"

/** Opens a store on the bench's PostgreSQL in `table` for the scope and prefills it. */
export const subject = (table: string, fx: Fixture): Effect.Effect<Subject, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* PostgresStore.make({ url: Redacted.make(Servers.url("postgres")), table }).pipe(
      Effect.interruptible,
      Servers.within("postgres", "opening PostgresStore")
    )
    yield* Driver.prefill(store, fx)
    const measure = yield* Driver.ready(store, fx)
    return { name: "PostgresStore", group: "postgres", workloads: ["get", "set", "setMany"], measure }
  })
