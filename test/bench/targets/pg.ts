/**
 * The floor of the postgres section: raw `pg` (node-postgres, the driver under `@effect/sql-pg`) on one `Client`,
 * each query awaited, on the tables of the shared SQL schema (`src/internal/sql/schema.ts`, dialect `pg`: key `BYTEA`
 * holding the key's UTF-8 bytes, the tag trigger) with its statement texts as named (prepared) statements and its
 * parameters for an entry without ttl, tags or metadata: `get` is the store's `SELECT`, `set` one autocommit upsert,
 * and `setMany` what PostgresStore runs, the multi-row upsert (`upsertMany`: the batch as column arrays through
 * `unnest`, built by the schema's own `batchRow`/`upsertManyParams`) per chunk of the dialect's bounds, in key order:
 * a batch of 1000 is one autocommit statement. The untimed cleanup of a round is the store's `removeKeys` and the
 * prefill goes through `setMany`. Each table is the run's own and is dropped with the run's other tables when the
 * section ends. The package ships no types and `@types/pg` is not installed, so the little of its API used here is
 * typed below.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { createRequire } from "node:module"
import type { BatchRow } from "../../../src/internal/sql/schema.js"
import {
  batchRow,
  keyParam,
  specs,
  statements,
  upsertManyParams,
  upsertParams
} from "../../../src/internal/sql/schema.js"
import type { Write } from "../../../src/KeyValueStore.js"
import { compareKeys } from "../../../src/Pattern.js"
import * as Driver from "../drivers/async.js"
import type { Fixture } from "../harness.js"
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

interface Target extends Driver.AsyncTarget<Buffer> {
  /** Writes a batch as `setMany` does (untimed). */
  readonly prefill: (entries: ReadonlyArray<readonly [string, Buffer]>) => Promise<unknown>
}

const target = (client: Client, table: string): Target => {
  const sql = statements(table, "pg")
  const name = (statement: string) => `${table}_${statement}`
  const k = (key: string) => keyParam(pgSpec, key)
  const upsert = (key: string, value: Buffer, now: number) => {
    const [, , ...rest] = upsertParams(key, value, PLAIN, now)
    return client.query({ name: name("upsert"), text: sql.upsert, values: [k(key), value, ...rest] })
  }
  const upsertMany = (rows: ReadonlyArray<BatchRow>) =>
    client.query({
      name: name("upsertMany"),
      text: sql.upsertMany(rows.length),
      values: upsertManyParams(pgSpec, rows)
    })
  // PostgresStore's `setMany` of distinct keys without tags: the rows in key order, `batchRows` per multi-row upsert
  // (the byte bound is never reached by the bench's values: checked); one chunk is one autocommit statement, more
  // are one transaction.
  const setMany = async (entries: ReadonlyArray<readonly [string, Buffer]>) => {
    const now = Date.now()
    const rows = [...entries].sort(([a], [b]) => compareKeys(a, b)).map(([key, value]) =>
      batchRow(pgSpec, key, value, PLAIN, now)
    )
    const parts = chunks(rows, pgSpec.batchRows)
    for (const part of parts) {
      if (part.reduce((n, row) => n + row.cost, 0) > pgSpec.batchBytes) throw new Error("a chunk over the byte bound")
    }
    if (parts.length === 1) return upsertMany(parts[0]!)
    await client.query({ text: sql.begin })
    try {
      for (const part of parts) await upsertMany(part)
      await client.query({ text: sql.commit })
    } catch (error) {
      await client.query({ text: sql.rollback }).catch(() => undefined)
      throw error
    }
  }
  return {
    get: async (key) =>
      (await client.query({ name: name("get"), text: sql.get, values: [k(key), Date.now()] })).rows[0]?.value,
    set: (key, value) => upsert(key, value, Date.now()),
    setMany,
    removeMany: (keys) =>
      client.query({ name: name("removeKeys"), text: sql.removeKeys(keys.length), values: [keys.map(k)] }),
    prefill: setMany
  }
}

/** The name of the raw target. */
export const NAME = "pg"

/** The name of the plain-table target. */
export const PLAIN_NAME = "pg (plain table)"

// The plainest key/value table: what a user of `pg` alone would create.
const plainTarget = (client: Client, table: string): Target => {
  const t = `"${table}"`
  const name = (statement: string) => `${table}_${statement}`
  const setMany = (entries: ReadonlyArray<readonly [string, Buffer]>) => {
    // One statement per batch, as PostgresStore's: the last write of a key wins (an upsert touches a row once).
    const last = new Map(entries)
    return client.query({
      name: name("setMany"),
      text: `INSERT INTO ${t} (key, value) SELECT * FROM unnest($1::text[], $2::bytea[])
        ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      values: [[...last.keys()], [...last.values()]]
    })
  }
  return {
    get: async (key) =>
      (await client.query({ name: name("get"), text: `SELECT value FROM ${t} WHERE key = $1`, values: [key] }))
        .rows[0]?.value,
    set: (key, value) =>
      client.query({
        name: name("set"),
        text: `INSERT INTO ${t} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        values: [key, value]
      }),
    setMany,
    removeMany: (keys) =>
      client.query({ name: name("removeMany"), text: `DELETE FROM ${t} WHERE key = ANY($1::text[])`, values: [keys] }),
    prefill: setMany
  }
}

/**
 * The second floor: raw `pg` on the plainest key/value table (`key TEXT PRIMARY KEY, value BYTEA NOT NULL`, no
 * expiry, tags, metadata or bookkeeping), its statements named (prepared): `get` a `SELECT`, `set` an autocommit
 * upsert, `setMany` one upsert of the batch's arrays through `unnest`. What PostgresStore's data model costs.
 */
export const plainSubject = (table: string, fx: Fixture): Effect.Effect<Subject, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* connect
    const t = plainTarget(client, table)
    yield* Servers.step("postgres", `creating and prefilling ${table}`, async () => {
      await client.query({ text: `CREATE TABLE "${table}" (key TEXT PRIMARY KEY, value BYTEA NOT NULL)` })
      for (const keys of chunks(fx.keys, fx.batch)) await t.prefill(keys.map((key) => [key, fx.bytes] as const))
    })
    const measure = yield* Driver.ready(t, fx, fx.bytes)
    return { name: PLAIN_NAME, group: "postgres", workloads: ["get", "set", "setMany"], measure }
  })

/**
 * Connects for the scope, creates the shared schema's tables for `table` and prefills them with the fixture's
 * entries, `fx.batch` per `setMany`.
 */
export const subject = (table: string, fx: Fixture): Effect.Effect<Subject, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* connect
    const t = target(client, table)
    yield* Servers.step("postgres", `creating and prefilling ${table}`, async () => {
      for (const text of statements(table, "pg").schema) await client.query({ text })
      for (const keys of chunks(fx.keys, fx.batch)) await t.prefill(keys.map((key) => [key, fx.bytes] as const))
    })
    const measure = yield* Driver.ready(t, fx, fx.bytes)
    return { name: NAME, group: "postgres", workloads: ["get", "set", "setMany"], measure }
  })
