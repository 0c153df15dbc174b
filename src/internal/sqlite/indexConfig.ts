/**
 * The index configuration of SqliteStore (`SqliteStore.makeIndex`): a plain persistent key-value table with no
 * expiry, tags, metadata, eviction, large-value files or counters, so a write is one upsert of four columns with no
 * trigger or secondary index to maintain and a read is one primary-key lookup. Entries keep their creation and update
 * times. Its table (default `effect_kv_index`) carries its own format marker: a store table is never opened as an
 * index, nor the reverse.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as KeyValueStore from "../../KeyValueStore.js"
import type { BackendError, Busy } from "../../KeyValueStoreError.js"
import { InvalidArgument, StoreCorrupted } from "../../KeyValueStoreError.js"
import * as sqlSchema from "../sql/schema.js"
import * as validate from "../validate.js"
import * as sqliteFile from "./file.js"

/** @internal */
export const FORMAT = "index-1"

/** @internal */
export interface Options extends KeyValueStore.StoreOptions {
  readonly filename: string
  readonly table?: string | undefined
  readonly busyTimeout?: Duration.DurationInput | undefined
  readonly synchronous?: "normal" | "full" | "off" | undefined
  readonly mmapSize?: number | undefined
  readonly verifyOnOpen?: boolean | undefined
}

/** @internal */
export const capabilities: KeyValueStore.Capabilities = {
  persistent: true,
  expiry: false,
  eviction: false,
  crossProcess: true,
  orderedKeys: true,
  enumeration: true,
  tags: false,
  metadata: false,
  transactions: true,
  locks: false,
  check: false,
  volume: true,
  fencedWrites: false
}

const memoryCapabilities: KeyValueStore.Capabilities = sqliteFile.inMemory(capabilities)

const backend = "sqlite (index)"

const { attempt, openError, toError } = sqliteFile.errorsOf(backend)

const statements = (table: string) => {
  const t = `"${table}"`
  const meta = `"${table}_meta"`
  const range = (bounded: boolean) => `key >= ?${bounded ? " AND key < ?" : ""}`
  return {
    schema: [
      `CREATE TABLE IF NOT EXISTS ${meta} (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${t} (
        key TEXT PRIMARY KEY NOT NULL,
        value BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      )`
    ],
    initFormat: `INSERT INTO ${meta} (name, value) VALUES ('format', ?) ON CONFLICT (name) DO NOTHING`,
    readFormat: `SELECT value FROM ${meta} WHERE name = 'format'`,
    get: `SELECT value FROM ${t} WHERE key = ?`,
    getEntry: `SELECT value, created_at, updated_at FROM ${t} WHERE key = ?`,
    has: `SELECT 1 FROM ${t} WHERE key = ?`,
    upsert: `INSERT INTO ${t} (key, value, created_at, updated_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    remove: `DELETE FROM ${t} WHERE key = ?`,
    clear: `DELETE FROM ${t}`,
    size: `SELECT COUNT(*) FROM ${t}`,
    scanKeys: (bounded: boolean) => `SELECT key FROM ${t} WHERE ${range(bounded)} ORDER BY key LIMIT ?`,
    scanEntries: (bounded: boolean) => `SELECT key, value FROM ${t} WHERE ${range(bounded)} ORDER BY key LIMIT ?`,
    countRange: (bounded: boolean) => `SELECT COUNT(*) FROM ${t} WHERE ${range(bounded)}`,
    removeRange: (bounded: boolean) => `DELETE FROM ${t} WHERE ${range(bounded)}`
  }
}

interface EntryRow {
  readonly value: Buffer
  readonly created_at: number
  readonly updated_at: number
}

/**
 * Opens an index for the scope.
 *
 * @internal
 */
export const make = (
  options: Options
): Effect.Effect<KeyValueStore.Service, StoreCorrupted | BackendError | Busy | InvalidArgument, Scope.Scope> =>
  Effect.gen(function*() {
    const optionsError = validate.checkStoreOptions(options)
    if (optionsError !== undefined) return yield* optionsError
    const connection = sqliteFile.connectionSettings(options)
    if (connection instanceof InvalidArgument) return yield* connection
    const table = sqlSchema.tableOf(options.table ?? "effect_kv_index")
    if (table instanceof InvalidArgument) return yield* table
    const s = statements(table)
    const { db, prepared } = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          sqliteFile.open(connection, (db) => {
            const [metaTable, ...rest] = s.schema
            db.exec(metaTable!)
            const format = db.prepare(s.readFormat).pluck().get()
            if (format !== undefined && format !== FORMAT) {
              throw new StoreCorrupted({
                method: "open",
                backend,
                reason: `table ${table} in ${connection.filename} holds format ${
                  String(format)
                }; an index reads ${FORMAT}`
              })
            }
            for (const statement of rest) db.exec(statement)
            db.prepare(s.initFormat).run(FORMAT)
          }, (db) => ({
            db,
            prepared: {
              get: db.prepare<[string], Buffer>(s.get).pluck(),
              getEntry: db.prepare<[string], EntryRow>(s.getEntry),
              has: db.prepare<[string], number>(s.has).pluck(),
              upsert: db.prepare<[string, Uint8Array, number, number]>(s.upsert),
              remove: db.prepare<[string]>(s.remove),
              clear: db.prepare(s.clear),
              size: db.prepare<[], number>(s.size).pluck(),
              scanKeys: [false, true].map((bounded) => db.prepare(s.scanKeys(bounded)).pluck()),
              scanEntries: [false, true].map((bounded) =>
                db.prepare<Array<unknown>, { readonly key: string; readonly value: Buffer }>(s.scanEntries(bounded))
              ),
              countRange: [false, true].map((bounded) => db.prepare(s.countRange(bounded)).pluck()),
              removeRange: [false, true].map((bounded) => db.prepare(s.removeRange(bounded)))
            }
          })),
        catch: openError
      }),
      ({ db }) => Effect.sync(() => db.close())
    )

    const readEntry = (key: string): Option.Option<KeyValueStore.Entry> => {
      const row = prepared.getEntry.get(key)
      return row === undefined ? Option.none() : Option.some({
        key,
        value: row.value,
        expiresAt: Option.none(),
        tags: [],
        metadata: Option.none(),
        createdAt: row.created_at,
        updatedAt: row.updated_at,
        size: row.value.byteLength
      })
    }

    const put = (key: string, value: Uint8Array, now: number) => prepared.upsert.run(key, value, now, now)
    const removeRow = (key: string) => prepared.remove.run(key).changes > 0

    const setMany = db.transaction((entries: ReadonlyArray<KeyValueStore.WriteEntry>, now: number) => {
      for (const entry of entries) put(entry.key, entry.value, now)
    })
    const removeMany = db.transaction((keys: ReadonlyArray<string>) => {
      let n = 0
      for (const key of keys) if (removeRow(key)) n++
      return n
    })
    const getMany = db.transaction((keys: ReadonlyArray<string>) =>
      keys.map((key) => Option.fromNullable<Uint8Array | undefined>(prepared.get.get(key)))
    )
    const modify = db.transaction(
      (
        key: string,
        now: number,
        f: (current: Option.Option<KeyValueStore.Entry>) => readonly [unknown, KeyValueStore.Mutation]
      ) => {
        const [result, mutation] = f(readEntry(key))
        if (mutation._tag === "Write") put(key, mutation.value, now)
        else if (mutation._tag === "Remove") removeRow(key)
        return result
      }
    )

    const sync = <K, A>(method: string, f: (key: K, now: number) => A) => (key: K, now: number): A => {
      try {
        return f(key, now)
      } catch (cause) {
        throw toError(method, typeof key === "string" ? key : undefined, cause)
      }
    }

    const unsafe = {
      get: sync("get", (key: string) => Option.fromNullable<Uint8Array | undefined>(prepared.get.get(key))),
      set: (key: string, value: Uint8Array, _write: KeyValueStore.Write, now: number): void => {
        try {
          put(key, value, now)
        } catch (cause) {
          throw toError("set", key, cause)
        }
      },
      has: sync("has", (key: string) => prepared.has.get(key) !== undefined),
      remove: sync("remove", (key: string) => removeRow(key))
    }

    const regions = sqliteFile.regionsOf(db, undefined, (method, cause) => toError(method, undefined, cause))

    return KeyValueStore.make({
      gate: regions,
      withTransaction: regions.withTransaction,
      transaction: regions.transaction,
      backend,
      capabilities: db.memory ? memoryCapabilities : capabilities,
      separator: options.separator,
      maxKeyBytes: options.maxKeyBytes,
      maxValueBytes: options.maxValueBytes,
      unsafe,
      get: (key, now) => attempt("get", key, () => unsafe.get(key, now)),
      getEntry: (key) => attempt("getEntry", key, () => readEntry(key)),
      set: (key, value, write, now) => attempt("set", key, () => unsafe.set(key, value, write, now)),
      has: (key, now) => attempt("has", key, () => unsafe.has(key, now)),
      remove: (key, now) => attempt("remove", key, () => unsafe.remove(key, now)),
      modify: (key, now, f) =>
        sqliteFile.modifyWith(
          f,
          (guarded) => modify.immediate(key, now, guarded),
          (cause) => toError("modify", key, cause)
        ),
      getMany: (keys) => attempt("getMany", undefined, () => getMany.deferred(keys)),
      setMany: (entries, now) => attempt("setMany", undefined, () => setMany.immediate(entries, now)),
      removeMany: (keys) => attempt("removeMany", undefined, () => removeMany.immediate(keys)),
      expiresAt: (key) =>
        attempt("ttl", key, () => prepared.has.get(key) === undefined ? Option.none() : Option.some(null)),
      touch: (key) => attempt("touch", key, () => prepared.has.get(key) !== undefined),
      expire: () => Effect.succeed(0),
      clear: attempt("clear", undefined, () => {
        prepared.clear.run()
      }),
      size: () => attempt("size", undefined, () => prepared.size.get() ?? 0),
      volume: db.memory ? undefined : attempt("volume", undefined, () => sqliteFile.databaseBytes(db)),
      scanKeys: (range) =>
        attempt(
          "keys",
          undefined,
          () =>
            sqliteFile.inRange(prepared.scanKeys, range.prefix, range.after, (statement, bounds) =>
              statement.all(...bounds, range.limit) as Array<string>)
        ),
      scanEntries: (range) =>
        attempt(
          "entries",
          undefined,
          () =>
            sqliteFile.inRange(prepared.scanEntries, range.prefix, range.after, (statement, bounds) =>
              statement.all(...bounds, range.limit).map((row) =>
                [row.key, row.value] as const
              ))
        ),
      countRange: (range) =>
        attempt(
          "countPattern",
          undefined,
          () =>
            sqliteFile.inRange(prepared.countRange, range.prefix, range.after, (statement, bounds) =>
              statement.get(...bounds) as number)
        ),
      removeRange: (range) =>
        attempt(
          "removePattern",
          undefined,
          () =>
            sqliteFile.inRange(prepared.removeRange, range.prefix, range.after, (statement, bounds) =>
              statement.run(...bounds).changes)
        )
    })
  })
