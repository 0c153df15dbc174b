/**
 * The floor of the postgres section: raw `pg` (node-postgres, the driver under `@effect/sql-pg`) on one `Client`,
 * each query awaited, on the tables of the shared SQL schema (`src/internal/sqlSchema.ts`, dialect `pg`: key `BYTEA`
 * holding the key's UTF-8 bytes, the tag trigger) with its statement texts as named (prepared) statements and its
 * parameters for an entry without ttl, tags or metadata: `get` is the store's `SELECT`, `set` one autocommit upsert,
 * and `setMany` what PostgresStore runs, a transaction of 1000 upserts in key order (`pg`). A second raw target,
 * `pg-unnest`, runs `setMany` only, as one upsert of 1000 rows passed as two arrays (`unnest`): the same columns
 * and conflict clause in one round trip, what batching in one statement would give. The untimed cleanup of a round
 * is one `DELETE ... WHERE key = ANY($1)` and the prefill goes through the one-statement upsert. Each table is the
 * run's own and is dropped with the run's other tables when the section ends. The package ships no types and
 * `@types/pg` is not installed, so the little of its API used here is typed below.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { createRequire } from "node:module"
import { keyParam, specs, statements, upsertParams, useStamp } from "../../../src/internal/sqlSchema.js"
import type { Write } from "../../../src/KeyValueStore.js"
import { compareKeys } from "../../../src/Pattern.js"
import * as Driver from "../drivers/async.js"
import type { Fixture, Workload } from "../harness.js"
import { chunks } from "../harness.js"
import * as Servers from "../servers.js"
import type { Subject } from "../session.js"

interface Query {
  /** Prepared once per connection under this name. */
  readonly name?: string
  readonly text: string
  readonly values?: ReadonlyArray<unknown>
}

interface Client {
  connect(): Promise<void>
  query(query: Query): Promise<{ readonly rows: Array<Record<string, unknown>>; readonly rowCount: number | null }>
  end(): Promise<void>
  on(event: "error", listener: (error: Error) => void): void
}

interface Pg {
  readonly Client: new(
    config: { readonly connectionString: string; readonly connectionTimeoutMillis: number }
  ) => Client
}

const pg = createRequire(import.meta.url)("pg") as Pg

/** A `pg` client connected to the bench's PostgreSQL for the scope, or a failure naming the server. */
export const connect: Effect.Effect<Client, unknown, Scope.Scope> = Effect.acquireRelease(
  Servers.step("postgres", "connecting pg", async (signal) => {
    const client = new pg.Client({ connectionString: Servers.url("postgres"), connectionTimeoutMillis: 3000 })
    signal.addEventListener("abort", () => void client.end().catch(() => undefined))
    client.on("error", () => undefined) // a dropped connection fails the next query instead of crashing the process
    await client.connect()
    return client
  }),
  (client) => Effect.promise(() => client.end().catch(() => undefined))
)

const likePrefix = (prefix: string): string => `${prefix.replace(/[\\%_]/g, "\\$&")}%`

/**
 * A connection for the scope that drops every table and function whose name starts with `prefix` when the scope
 * closes (after the targets opened later have closed), and reports them.
 */
export const janitor = (prefix: string): Effect.Effect<void, unknown, Scope.Scope> =>
  Effect.flatMap(
    connect,
    (client) =>
      Effect.addFinalizer(() =>
        Servers.step("postgres", `dropping the tables ${prefix}*`, async () => {
          const tables = await client.query({
            text: "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE $1",
            values: [likePrefix(prefix)]
          })
          const functions = await client.query({
            text:
              "SELECT p.oid::regprocedure::text AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace " +
              "WHERE n.nspname = current_schema() AND p.proname LIKE $1",
            values: [likePrefix(prefix)]
          })
          const names = (rows: Array<Record<string, unknown>>) => rows.map((r) => String(r.name))
          const dropped = names(tables.rows)
          if (dropped.length > 0) {
            await client.query({ text: `DROP TABLE IF EXISTS ${dropped.map((t) => `"${t}"`).join(", ")} CASCADE` })
          }
          for (const f of names(functions.rows)) await client.query({ text: `DROP FUNCTION IF EXISTS ${f} CASCADE` })
          return [...dropped, ...names(functions.rows)]
        }).pipe(
          Effect.tap((names) => Effect.sync(() => console.log(`postgres: dropped ${names.join(", ") || "nothing"}`))),
          Effect.catchAll((e) => Effect.sync(() => console.error(e.message)))
        )
      )
  )

/** The write options of every entry: no ttl, tags or metadata. */
const PLAIN: Write = { expiresAt: null, tags: [], metadata: null }

const pgSpec = specs.pg

/** How a raw target writes a batch: as PostgresStore does, or in one statement. */
export type Batch = "store" | "unnest"

// The store's upsert with its `VALUES (...)` row replaced by the rows of two arrays (keys and values) and the
// parameters every row shares (now, use stamp): the same columns and conflict clause, one statement.
const unnestOf = (upsert: string): string => {
  const values = /VALUES\s*\(\$1,[^)]*\)/
  if (!values.test(upsert)) throw new Error(`the shared schema's upsert changed shape: ${upsert}`)
  return upsert.replace(
    values,
    "SELECT k, v, NULL::bigint, $3::bigint, $3::bigint, $4::bigint, octet_length(v), NULL, NULL, 1, NULL " +
      "FROM unnest($1::bytea[], $2::bytea[]) AS e(k, v)"
  )
}

interface Target extends Driver.AsyncTarget<Buffer> {
  /** Writes a batch in one statement (untimed). */
  readonly prefill: (entries: ReadonlyArray<readonly [string, Buffer]>) => Promise<unknown>
}

const target = (client: Client, table: string, batch: Batch): Target => {
  const sql = statements(table, "pg")
  const upsertMany = unnestOf(sql.upsert)
  const removeMany = `DELETE FROM "${table}" WHERE key = ANY($1::bytea[])`
  const name = (statement: string) => `${table}_${statement}`
  const k = (key: string) => keyParam(pgSpec, key)
  const upsert = (key: string, value: Buffer, now: number) => {
    const [, , ...rest] = upsertParams(key, value, PLAIN, now)
    return client.query({ name: name("upsert"), text: sql.upsert, values: [k(key), value, ...rest] })
  }
  const inTransaction = async (entries: ReadonlyArray<readonly [string, Buffer]>) => {
    const now = Date.now()
    const ordered = [...entries].sort(([a], [b]) => compareKeys(a, b))
    await client.query({ text: sql.begin })
    try {
      for (const [key, value] of ordered) await upsert(key, value, now)
      await client.query({ text: sql.commit })
    } catch (error) {
      await client.query({ text: sql.rollback }).catch(() => undefined)
      throw error
    }
  }
  const inOneStatement = (entries: ReadonlyArray<readonly [string, Buffer]>) => {
    const now = Date.now()
    return client.query({
      name: name("upsertMany"),
      text: upsertMany,
      values: [entries.map(([key]) => k(key)), entries.map(([, value]) => value), now, useStamp(now)]
    })
  }
  return {
    get: async (key) =>
      (await client.query({ name: name("get"), text: sql.get, values: [k(key), Date.now()] })).rows[0]?.value,
    set: (key, value) => upsert(key, value, Date.now()),
    setMany: batch === "store" ? inTransaction : inOneStatement,
    removeMany: (keys) => client.query({ name: name("removeMany"), text: removeMany, values: [keys.map(k)] }),
    prefill: inOneStatement
  }
}

/** The name of each raw target, by how it writes a batch. */
export const NAMES: Record<Batch, string> = { store: "pg", unnest: "pg-unnest" }

/**
 * Connects for the scope, creates the shared schema's tables for `table` and prefills them with the fixture's
 * entries, `fx.batch` per statement.
 */
export const subject = (table: string, batch: Batch, fx: Fixture): Effect.Effect<Subject, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* connect
    const t = target(client, table, batch)
    yield* Servers.step("postgres", `creating and prefilling ${table}`, async () => {
      for (const text of statements(table, "pg").schema) await client.query({ text })
      for (const keys of chunks(fx.keys, fx.batch)) await t.prefill(keys.map((key) => [key, fx.bytes] as const))
    })
    const measure = yield* Driver.ready(t, fx, fx.bytes)
    // `get` and `set` of the one-statement target run the same statements as the floor's.
    const workloads: ReadonlyArray<Workload> = batch === "store" ? ["get", "set", "setMany"] : ["setMany"]
    return { name: NAMES[batch], group: "postgres", workloads, measure }
  })
