/**
 * `check` of a SQLite store: the engine's integrity check, large-value files no row names, rows naming missing or
 * damaged files (of another length, or failing the checksum their name carries: every file is read), counter drift
 * (where the file keeps counters: once a store with size limits opened it) and expired rows pending, and their repair
 * with `fix`.
 *
 * It runs synchronously on the store's connection. The rows are read in one read transaction (one snapshot); the
 * file directory is listed after it. Several store tables of one database share the directory, so a file is named
 * when a row of any store table of the file names it: a table with a `file` column whose `<table>_meta` table holds
 * a format row. A file no row names is an orphan only once its mtime is `minOrphanAge` older than the wall clock
 * (file times are the file system's, whatever `Clock` the program runs with; expiry uses the `Clock`): another process
 * writes and renames its file before its row commits. A database the engine finds damaged is never
 * repaired: rows lost to damaged pages would make live files look orphaned; the report's `unrepairable` names
 * `SqliteStore.recover` instead.
 *
 * @internal
 */
import type Database from "better-sqlite3"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { CheckOptions, CheckReport } from "../../KeyValueStore.js"
import type { KeyValueStoreError } from "../../KeyValueStoreError.js"
import { InvalidArgument } from "../../KeyValueStoreError.js"
import * as sqlSchema from "../sql/schema.js"
import * as validate from "../validate.js"
import * as sqliteFile from "./file.js"
import * as largeValues from "./largeValues.js"

/**
 * The `minOrphanAge` of a check that does not give one: 1 minute.
 *
 * @internal
 */
export const DEFAULT_MIN_ORPHAN_AGE: Duration.Duration = Duration.minutes(1)

interface FileRow {
  readonly key: string
  readonly file: unknown
  readonly size: sqlSchema.BigIntColumn
}

interface Counts {
  readonly entries: sqlSchema.BigIntColumn
  readonly bytes: sqlSchema.BigIntColumn
}

const quote = (name: string): string => `"${name.replace(/"/g, "\"\"")}"`

// Tables that may be stores: a `file` column, and a `<name>_meta` table with the `name` and `value` columns of the
// shared schema (so that reading its format row cannot fail on a missing column).
const candidateTables = `SELECT t.name FROM main.sqlite_master AS t
  WHERE t.type = 'table'
    AND EXISTS (SELECT 1 FROM pragma_table_info(t.name) AS c WHERE c.name = 'file')
    AND (SELECT COUNT(*) FROM pragma_table_info(t.name || '_meta') AS c WHERE c.name IN ('name', 'value')) = 2`

// A `file` column read back: text, or a blob when edited by hand.
const sameFile = (a: unknown, b: unknown): boolean =>
  a === b || (Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b))

const errorCode = (error: unknown): unknown => (error as { readonly code?: unknown } | undefined)?.code

const messageOf = (error: unknown): string => error instanceof Error ? error.message : String(error)

const unrepairable = (file: string): string =>
  `the database file ${file} is damaged (see engine): check cannot repair it in place; ` +
  `SqliteStore.recover({ from, to }) copies every entry that can still be read, with its value file, into a new file`

/**
 * The `check` of the store of `table` on `db`.
 *
 * The report describes the state found before any repair; with `fix`, `fixed` lists what was repaired, one line per
 * repair: dangling rows deleted and expired rows removed (in one `BEGIN IMMEDIATE` transaction inside `run`, which
 * also recounts the counters when they drifted), then orphaned files deleted. `orphanedFiles` are absolute paths. A
 * dangling row is deleted only if it still names the same missing or mis-sized file once the write lock is held; an
 * orphan that cannot be deleted stays, unlisted, for the next check. Nothing is repaired when the engine reports
 * damage. The directory missing means no orphans; any failure of the engine or the file system is typed by `toError`.
 *
 * @internal
 */
export const make = (options: {
  readonly db: Database.Database
  readonly table: string
  readonly backend: string
  /** The large-value directory; undefined for an in-memory database. */
  readonly directory: string | undefined
  /** Runs a change that removes rows, deleting the files they released once it committed (`largeValues.run`). */
  readonly run: <A>(f: () => A) => A
  readonly toError: (method: string, cause: unknown) => KeyValueStoreError
}): (checkOptions?: CheckOptions) => Effect.Effect<CheckReport, KeyValueStoreError> => {
  const { db, directory, run, table, toError } = options
  const s = sqlSchema.statements(table, "sqlite")
  const t = quote(table)

  // Whether the row's file is missing, of the wrong size, fails the checksum its name carries or is not a name this
  // store writes.
  const isDangling = (file: unknown, size: sqlSchema.BigIntColumn): boolean =>
    directory === undefined || typeof file !== "string" || !largeValues.isValueFile(file) ||
    largeValues.inspectFile(path.join(directory, file), file, sqlSchema.toNumber(size)) !== undefined

  // Every file name a row of any store table of the database names (this table's included whatever its meta holds).
  const namedFiles = (own: ReadonlyArray<FileRow>): Set<string> => {
    const named = new Set<string>()
    for (const row of own) if (typeof row.file === "string") named.add(row.file)
    const tables = db.prepare<[], string>(candidateTables).pluck().all()
    for (const other of tables) {
      if (other === table) continue
      const format = db.prepare(`SELECT value FROM main.${quote(`${other}_meta`)} WHERE name = 'format'`).pluck().get()
      if (format === undefined) continue
      const files = db.prepare(`SELECT file FROM main.${quote(other)} WHERE file IS NOT NULL`).pluck().all()
      for (const file of files) if (typeof file === "string") named.add(file)
    }
    return named
  }

  const orphansOf = (named: ReadonlySet<string>, bornBefore: number): Array<string> => {
    if (directory === undefined) return []
    let names: Array<string>
    try {
      names = fs.readdirSync(directory)
    } catch (error) {
      if (errorCode(error) === "ENOENT" || errorCode(error) === "ENOTDIR") return []
      throw error
    }
    const orphans: Array<string> = []
    for (const name of names.sort()) {
      if (named.has(name) || !(largeValues.isValueFile(name) || largeValues.isTempFile(name))) continue
      const file = path.join(directory, name)
      const stat = fs.lstatSync(file, { throwIfNoEntry: false })
      if (stat !== undefined && stat.isFile() && stat.mtimeMs <= bornBefore) orphans.push(file)
    }
    return orphans
  }

  const check = (now: number, fix: boolean, minOrphanAge: number): CheckReport => {
    let engine: Array<string>
    try {
      engine = db.prepare<[], string>("PRAGMA integrity_check").pluck().all()
    } catch (error) {
      if (!sqliteFile.isDamage(error)) throw error
      engine = [messageOf(error)]
    }
    if (engine.length !== 1 || engine[0] !== "ok") {
      // The rows may be unreadable too: then the engine's report is all there is to say.
      try {
        return inspect(now, false, minOrphanAge, engine)
      } catch (error) {
        if (!sqliteFile.isDamage(error)) throw error
        return {
          ok: false,
          engine: [...engine, `reading the rows failed: ${messageOf(error)}`],
          orphanedFiles: [],
          danglingRows: [],
          counterDrift: undefined,
          expiredPending: 0,
          fixed: [],
          unrepairable: [unrepairable(db.name)]
        }
      }
    }
    return inspect(now, fix, minOrphanAge, engine)
  }

  const inspect = (now: number, fix: boolean, minOrphanAge: number, engine: ReadonlyArray<string>): CheckReport => {
    const rowStatement = db.prepare<[string], FileRow>(`SELECT key, file, size FROM main.${t} WHERE key = ?`)

    const snapshot = db.transaction(() => {
      // Counters exist only once a store with size limits opened the file (see `Statements.counting`).
      const counting = db.prepare(s.counting.present).get() !== undefined
      const stored = counting ? db.prepare<[], Counts>(s.counters).get() : null
      const actual = db.prepare<[], Counts>(
        `SELECT COUNT(*) AS entries, COALESCE(SUM(size), 0) AS bytes FROM main.${t}`
      ).get()!
      const expired = db.prepare<[number], number>(
        `SELECT COUNT(*) FROM main.${t} WHERE expires_at IS NOT NULL AND expires_at <= ?`
      ).pluck().get(now) ?? 0
      const own = db.prepare<[], FileRow>(`SELECT key, file, size FROM main.${t} WHERE file IS NOT NULL`).all()
      return { stored, actual, expired, own, named: namedFiles(own) }
    })
    const { actual, expired, named, own, stored } = snapshot()

    const entries = sqlSchema.toNumber(actual.entries)
    const bytes = sqlSchema.toNumber(actual.bytes)
    const counterDrift = stored === null
      ? undefined
      : stored === undefined
      ? { entries: 0 - entries, bytes: 0 - bytes }
      : sqlSchema.toNumber(stored.entries) === entries && sqlSchema.toNumber(stored.bytes) === bytes
      ? undefined
      : { entries: sqlSchema.toNumber(stored.entries) - entries, bytes: sqlSchema.toNumber(stored.bytes) - bytes }

    // A row found dangling is read again: another process may have replaced it and deleted its file since the
    // snapshot. It stays dangling only if it still names the same file.
    const dangling = own.filter((row) => {
      if (!isDangling(row.file, row.size)) return false
      const again = rowStatement.get(row.key)
      return again !== undefined && sameFile(again.file, row.file) && isDangling(again.file, again.size)
    })

    // Inside a transaction of this connection, files its uncommitted changes released still exist and look unnamed:
    // orphans are only looked for outside transactions.
    const orphanedFiles = db.inTransaction ? [] : orphansOf(named, Date.now() - minOrphanAge)
    const engineOk = engine.length === 1 && engine[0] === "ok"
    const fixed: Array<string> = []

    if (fix && engineOk) {
      if (dangling.length > 0 || expired > 0 || counterDrift !== undefined) {
        const deleteRow = db.prepare<[string, unknown]>(`DELETE FROM main.${t} WHERE key = ? AND file = ?`)
        const deleteExpired = db.prepare<[number]>(s.deleteExpired)
        const repair = db.transaction(() => {
          const lines: Array<string> = []
          for (const row of dangling) {
            const current = rowStatement.get(row.key)
            if (current === undefined || !sameFile(current.file, row.file) || !isDangling(current.file, current.size)) {
              continue
            }
            deleteRow.run(row.key, row.file)
            lines.push(`deleted dangling row ${JSON.stringify(row.key)} (file ${JSON.stringify(row.file)})`)
          }
          const removed = deleteExpired.run(now).changes
          if (removed > 0) lines.push(`removed ${removed} expired ${removed === 1 ? "entry" : "entries"}`)
          if (counterDrift !== undefined) {
            db.prepare(s.recount).run()
            const after = db.prepare<[], Counts>(s.counters).get()!
            lines.push(
              `recounted the counters: ${sqlSchema.toNumber(after.entries)} entries, ` +
                `${sqlSchema.toNumber(after.bytes)} bytes`
            )
          }
          return lines
        })
        fixed.push(...run(() => repair.immediate()))
      }
      // Deleted under the write lock, after reading again which files rows name: no other connection can then hold
      // an uncommitted row naming one of them (its transaction would hold the lock).
      const deleteOrphans = db.transaction(() => {
        const ownNow = db.prepare<[], FileRow>(`SELECT key, file, size FROM main.${t} WHERE file IS NOT NULL`).all()
        const namedNow = namedFiles(ownNow)
        for (const file of orphanedFiles) {
          if (namedNow.has(path.basename(file))) continue
          try {
            fs.unlinkSync(file)
            fixed.push(`deleted orphaned file ${file}`)
          } catch {
            // Gone already (another check), or not deletable: the next check reports it again if it is still there.
          }
        }
      })
      if (orphanedFiles.length > 0) deleteOrphans.immediate()
    }

    return {
      ok: engineOk && orphanedFiles.length === 0 && dangling.length === 0 && counterDrift === undefined,
      engine,
      orphanedFiles,
      danglingRows: dangling.map((row) => row.key),
      counterDrift,
      expiredPending: expired,
      fixed,
      ...(engineOk ? {} : { unrepairable: [unrepairable(db.name)] })
    }
  }

  return Effect.fnUntraced(function*(checkOptions?: CheckOptions) {
    const minOrphanAge = validate.durationMillis(checkOptions?.minOrphanAge ?? DEFAULT_MIN_ORPHAN_AGE)
    if (minOrphanAge === undefined) {
      return yield* new InvalidArgument({
        method: "check",
        argument: "minOrphanAge",
        reason: `expected a non-negative duration, got ${String(checkOptions?.minOrphanAge)}`
      })
    }
    const now = yield* Clock.currentTimeMillis
    return yield* Effect.try({
      try: () => check(now, checkOptions?.fix === true, minOrphanAge),
      catch: (cause) => toError("check", cause)
    })
  })
}
