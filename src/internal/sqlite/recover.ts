/**
 * `SqliteStore.recover`: copies every entry SQLite can still read out of a damaged store file into a new one. The
 * sqlite3 shell's `.recover` (which parses raw pages) is not reachable through better-sqlite3, so this reads through
 * the engine and steps around what fails. It never opens the damaged file itself: it works on a copy beside `to`
 * (the file and its write-ahead log), whose 100-byte header it rebuilds when the engine cannot read the schema
 * through it. The entries table is read in rowid order; where a read fails, the next readable rowid is found by
 * probing further and further ahead, then bisecting back, so each damaged page costs one unreadable stretch of
 * rowids. A row that fails alone (a damaged overflow page) is named by its key when the key can still be read. When
 * some stretch could not be read, the key index (a b-tree of its own) is read to name the keys of that stretch, and
 * each is tried once more by rowid. Every value file a copied row names is read from `<from>.files/`, verified (its
 * length, and its checksum when its name carries one) and written anew into `<to>.files/`; a missing or damaged file
 * is a lost entry. The new file is made by the store itself (`create`), so it has exactly the current schema, and
 * tags and counters are rebuilt by its own statements and triggers; fencing tokens are copied, lock leases are not.
 *
 * @internal
 */
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import type * as SqliteStore from "../../backends/SqliteStore.js"
import type { Busy, KeyValueStoreError } from "../../KeyValueStoreError.js"
import { BackendError, InvalidArgument, isKeyValueStoreError, StoreCorrupted } from "../../KeyValueStoreError.js"
import * as sqlSchema from "../sql/schema.js"
import * as sqliteFile from "./file.js"
import * as largeValues from "./largeValues.js"

const backend = "sqlite"

const MAX_ROWID = 2n ** 63n - 1n
const MIN_ROWID = -(2n ** 63n)

/** Rows copied per transaction of the new file (and between two yields to other fibers). */
const BATCH = 500

const codeOf = (error: unknown): unknown => (error as { readonly code?: unknown } | undefined)?.code

const messageOf = (error: unknown): string => error instanceof Error ? error.message : String(error)

// What a read of a damaged file fails with: the engine's corruption codes, and I/O errors (a short read).
const isReadFailure = (error: unknown): boolean => {
  const code = codeOf(error)
  return sqliteFile.isDamage(error) || (typeof code === "string" && code.startsWith("SQLITE_IOERR"))
}

// A failure of the new file or of the file system while writing it: it ends the recovery, whatever its code.
class Fatal {
  constructor(readonly cause: unknown) {}
}

const fatal = <A>(f: () => A): A => {
  try {
    return f()
  } catch (cause) {
    throw new Fatal(cause)
  }
}

const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "recover", argument, reason })

const removeFiles = (file: string): void => {
  for (const name of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) fs.rmSync(name, { force: true })
}

// --- the header ---

const MAGIC = Buffer.from("SQLite format 3\u0000", "latin1")

const isPageSize = (n: number): boolean => n >= 512 && n <= 65536 && (n & (n - 1)) === 0

const readAt = (file: string, position: number, length: number): Buffer => {
  const buffer = Buffer.alloc(length)
  const fd = fs.openSync(file, "r")
  try {
    fs.readSync(fd, buffer, 0, length, position)
  } finally {
    fs.closeSync(fd)
  }
  return buffer
}

// Page sizes to try, most likely first: the header's own (when it holds one), the write-ahead log's, then the
// default and the other powers of two.
const pageSizes = (file: string): Array<number> => {
  const candidates: Array<number> = []
  const header = readAt(file, 0, 100)
  const own = header.readUInt16BE(16)
  candidates.push(own === 1 ? 65536 : own)
  if (fs.existsSync(`${file}-wal`)) candidates.push(readAt(`${file}-wal`, 8, 4).readUInt32BE(0))
  candidates.push(4096, 1024, 2048, 8192, 16384, 32768, 65536, 512)
  return [...new Set(candidates.filter(isPageSize))]
}

/**
 * Writes a plausible database header into the first 100 bytes of `file`: the magic string, `pageSize`, the WAL or
 * rollback file format, UTF-8, schema format 4, no free-list (its pages become unused, which reads do not mind), and
 * a page count from the file's length.
 */
const writeHeader = (file: string, pageSize: number): void => {
  const header = Buffer.alloc(100)
  MAGIC.copy(header, 0)
  header.writeUInt16BE(pageSize === 65536 ? 1 : pageSize, 16)
  const format = fs.existsSync(`${file}-wal`) ? 2 : 1
  header[18] = format
  header[19] = format
  header[20] = 0
  header[21] = 64
  header[22] = 32
  header[23] = 32
  header.writeUInt32BE(1, 24)
  header.writeUInt32BE(Math.floor(fs.statSync(file).size / pageSize), 28)
  header.writeUInt32BE(1, 40)
  header.writeUInt32BE(4, 44)
  header.writeUInt32BE(1, 56)
  header.writeUInt32BE(1, 92)
  header.writeUInt32BE(3_045_000, 96)
  const fd = fs.openSync(file, "r+")
  try {
    fs.writeSync(fd, header, 0, 100, 0)
  } finally {
    fs.closeSync(fd)
  }
}

// --- the copy ---

interface SourceRow {
  readonly rowid: bigint
  readonly key: unknown
  readonly value: unknown
  readonly expires_at: bigint | number | null
  readonly created_at: bigint | number
  readonly updated_at: bigint | number
  readonly accessed_at: bigint | number
  readonly access_count: bigint | number
  readonly size: bigint | number
  readonly tags: unknown
  readonly metadata: unknown
  readonly file: unknown
}

const columns = "rowid, key, value, expires_at, created_at, updated_at, accessed_at, access_count, size, tags, " +
  "metadata, file"

interface Range {
  readonly first: bigint
  readonly last: bigint
}

/**
 * Opens the working copy, rebuilding its header when the schema cannot be read through it. Returns the connection
 * and whether the header was rebuilt.
 */
const openSource = (
  work: string,
  table: string,
  busyMillis: number
): { readonly db: Database.Database; readonly rebuilt: boolean } => {
  const attempt = (): Database.Database => {
    const db = new Database(work, { timeout: busyMillis })
    try {
      db.prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' AND name = ?").get(table)
      return db
    } catch (error) {
      db.close()
      throw error
    }
  }
  let first: unknown
  try {
    return { db: attempt(), rebuilt: false }
  } catch (error) {
    if (!isReadFailure(error)) throw error
    first = error
  }
  if (fs.statSync(work).size >= 100) {
    for (const pageSize of pageSizes(work)) {
      writeHeader(work, pageSize)
      try {
        return { db: attempt(), rebuilt: true }
      } catch (error) {
        if (!isReadFailure(error)) throw error
      }
    }
  }
  throw new StoreCorrupted({
    method: "recover",
    backend,
    reason: `the schema cannot be read, even with a rebuilt file header: ${messageOf(first)}`,
    cause: first
  })
}

/**
 * Copies what can be read of `table` from `source` (the working copy) into `target` (a new store file), reading the
 * large values from `fromFiles`. `step` does one batch and answers whether there is more; `report` is the outcome.
 */
const copier = (options: {
  readonly source: Database.Database
  readonly target: Database.Database
  readonly table: string
  readonly fromFiles: string
  readonly toFile: string
}) => {
  const { source, table, target } = options
  const t = `main."${table}"`
  const rows = source.prepare<[bigint], SourceRow>(
    `SELECT ${columns} FROM ${t} NOT INDEXED WHERE rowid > ? ORDER BY rowid`
  ).safeIntegers(true)
  const byRowid = source.prepare<[bigint], SourceRow>(`SELECT ${columns} FROM ${t} NOT INDEXED WHERE rowid = ?`)
    .safeIntegers(true)
  const keyOf = source.prepare<[bigint], unknown>(`SELECT key FROM ${t} NOT INDEXED WHERE rowid = ?`).pluck()
  const next = source.prepare<[bigint], bigint>(
    `SELECT rowid FROM ${t} NOT INDEXED WHERE rowid > ? ORDER BY rowid LIMIT 1`
  ).pluck().safeIntegers(true)

  const insert = target.prepare(
    `INSERT INTO ${t} (key, value, expires_at, created_at, updated_at, accessed_at, access_count, size, tags,
      metadata, file) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`
  )
  const insertTag = target.prepare(
    `INSERT INTO main."${table}_tags" (tag, key) VALUES (?, ?) ON CONFLICT (tag, key) DO NOTHING`
  )
  const files = largeValues.make(target, {
    backend,
    table,
    databaseFile: options.toFile,
    threshold: 0,
    durable: true
  })

  let after = MIN_ROWID
  let scanned = false
  let entries = 0
  let copiedFiles = 0
  const lost: Array<SqliteStore.RecoverReport["lost"][number]> = []
  const ranges: Array<Range> = []
  const other: Array<string> = []
  let keysComplete = true

  const lose = (key: string, reason: string): void => {
    lost.push({ key, reason })
  }

  // Copies one row read from the source (inside the target's open transaction).
  const take = (row: SourceRow): void => {
    const key = row.key
    if (typeof key !== "string" || key.length === 0) {
      ranges.push({ first: row.rowid, last: row.rowid })
      return
    }
    if (!Buffer.isBuffer(row.value)) return lose(key, "its value column does not hold bytes")
    const tags = typeof row.tags === "string" || row.tags === null ? row.tags : undefined
    const metadata = typeof row.metadata === "string" || row.metadata === null ? row.metadata : undefined
    if (tags === undefined || metadata === undefined) return lose(key, "its tags or metadata column is not text")
    const entry = sqlSchema.toEntry(backend, "recover", key, {
      value: row.value,
      expires_at: row.expires_at,
      created_at: row.created_at,
      updated_at: row.updated_at,
      size: row.size,
      tags,
      metadata,
      file: null
    })
    if (entry instanceof StoreCorrupted) return lose(key, `its row is damaged: ${entry.reason}`)
    for (const n of [row.accessed_at, row.access_count]) {
      if (!Number.isFinite(sqlSchema.toNumber(n))) return lose(key, "its row is damaged: a use count is not a number")
    }
    let file: string | null = null
    if (row.file !== null) {
      const name = row.file
      if (typeof name !== "string" || !largeValues.isValueFile(name)) {
        return lose(key, `its file column names no value file of a store (${JSON.stringify(name)})`)
      }
      let read: ReturnType<typeof largeValues.readFile>
      try {
        read = largeValues.readFile(path.join(options.fromFiles, name), name, entry.size, true)
      } catch (error) {
        return lose(
          key,
          codeOf(error) === "ENOENT"
            ? `its value file ${name} is missing`
            : `its value file ${name} cannot be read: ${messageOf(error)}`
        )
      }
      const bytes = read.bytes
      if (bytes === undefined) return lose(key, `its value file ${name} ${read.defect ?? "cannot be read"}`)
      file = fatal(() => files.spill(bytes))
    }
    const inserted = fatal(() =>
      insert.run(
        key,
        file === null ? row.value : Buffer.alloc(0),
        row.expires_at,
        row.created_at,
        row.updated_at,
        row.accessed_at,
        row.access_count,
        row.size,
        tags,
        metadata,
        file
      ).changes
    )
    if (inserted === 0) {
      if (file !== null) fs.rmSync(path.join(`${options.toFile}.files`, file), { force: true })
      return lose(key, "another row of the same key was copied")
    }
    fatal(() => {
      for (const tag of entry.tags) insertTag.run(tag, key)
    })
    entries++
    if (file !== null) copiedFiles++
  }

  const readable = (position: bigint): boolean => {
    try {
      next.get(position)
      return true
    } catch (error) {
      if (isReadFailure(error)) return false
      throw error
    }
  }

  // The read after `after` failed: finds where reading can go on, recording what is lost on the way.
  const skip = (failure: unknown): void => {
    let following: bigint | undefined
    try {
      following = next.get(after)
    } catch (error) {
      if (!isReadFailure(error)) throw error
      following = undefined
      // Probe further and further ahead, then bisect back to the first position that reads.
      let bad = after
      let good: bigint | undefined
      for (let stride = 1n; after + stride <= MAX_ROWID; stride *= 2n) {
        if (readable(after + stride)) {
          good = after + stride
          break
        }
        bad = after + stride
      }
      if (good === undefined) {
        ranges.push({ first: after + 1n, last: MAX_ROWID })
        scanned = true
        return
      }
      let resume: bigint = good
      while (resume - bad > 1n) {
        const middle: bigint = bad + (resume - bad) / 2n
        if (readable(middle)) resume = middle
        else bad = middle
      }
      ranges.push({ first: after + 1n, last: resume })
      after = resume
      return
    }
    if (following === undefined) {
      scanned = true
      return
    }
    // The path to the next row reads: the row itself (or its overflow pages) does not.
    const rowid = following
    let row: SourceRow | undefined
    try {
      row = byRowid.get(rowid)
    } catch (error) {
      if (!isReadFailure(error)) throw error
    }
    if (row !== undefined) take(row)
    else {
      let key: unknown
      try {
        key = keyOf.get(rowid)
      } catch {
        key = undefined
      }
      if (typeof key === "string") lose(key, `its row cannot be read: ${messageOf(failure)}`)
      else ranges.push({ first: rowid, last: rowid })
    }
    after = rowid
  }

  /** Copies up to `BATCH` rows of the table; false once the table has been read to its end. */
  const step = (): boolean => {
    let n = 0
    try {
      for (const row of rows.iterate(after)) {
        if (row.rowid <= after) throw Object.assign(new Error("rows out of order"), { code: "SQLITE_CORRUPT" })
        after = row.rowid
        take(row)
        if (++n >= BATCH) return true
      }
      scanned = true
    } catch (error) {
      if (error instanceof Fatal || !isReadFailure(error)) throw error
      skip(error)
    }
    return !scanned
  }

  // The keys of the unreadable stretches, from the key index: each row is tried once more by rowid.
  const nameLostRows = (): void => {
    if (ranges.length === 0) return
    const index = `"sqlite_autoindex_${table}_1"`
    const inRange = (rowid: bigint) => ranges.some((range) => range.first <= rowid && rowid <= range.last)
    const found = new Map<bigint, string>()
    const scan = (descending: boolean): boolean => {
      try {
        const statement = source.prepare<[], { readonly key: unknown; readonly rowid: bigint }>(
          `SELECT key, rowid FROM ${t} INDEXED BY ${index} ORDER BY key${descending ? " DESC" : ""}`
        ).safeIntegers(true)
        for (const { key, rowid } of statement.iterate()) {
          if (typeof key === "string" && inRange(rowid)) found.set(rowid, key)
        }
        return true
      } catch (error) {
        if (error instanceof Fatal || !(isReadFailure(error) || codeOf(error) === "SQLITE_ERROR")) throw error
        return false
      }
    }
    keysComplete = scan(false)
    // Past a damaged page of the index, its other end still names the keys after the damage.
    if (!keysComplete) scan(true)
    for (const [rowid, key] of found) {
      let row: SourceRow | undefined
      try {
        row = byRowid.get(rowid)
      } catch (error) {
        if (!isReadFailure(error)) throw error
      }
      if (row !== undefined && row.key === key) take(row)
      else lose(key, "its row is on a damaged page of the table")
    }
  }

  const copyFences = (): void => {
    const fences = `${table}_fences`
    const exists = source.prepare("SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?").get(fences)
    if (exists === undefined) return
    const upsert = target.prepare(
      `INSERT INTO main."${fences}" (name, fence) VALUES (?, ?)
        ON CONFLICT (name) DO UPDATE SET fence = max(fence, excluded.fence)`
    )
    let last: unknown
    try {
      const read = source.prepare<[], { readonly name: unknown; readonly fence: unknown }>(
        `SELECT name, fence FROM main."${fences}" ORDER BY name`
      ).safeIntegers(true)
      for (const row of read.iterate()) {
        fatal(() => upsert.run(row.name, row.fence))
        last = row.name
      }
    } catch (error) {
      if (error instanceof Fatal || !isReadFailure(error)) throw error
      other.push(
        `the fencing tokens of ${fences} ${
          last === undefined ? "" : `after lock ${JSON.stringify(last)} `
        }cannot be read: a lock of those names may issue a token it issued before`
      )
    }
  }

  const report = (engine: ReadonlyArray<string>, headerRebuilt: boolean): SqliteStore.RecoverReport => {
    const unreadable = keysComplete ? [] : ranges.map((range) => ({
      first: Number(range.first),
      last: range.last === MAX_ROWID ? Infinity : Number(range.last)
    }))
    return {
      engine,
      headerRebuilt,
      entries,
      files: copiedFiles,
      lost,
      unreadable,
      other,
      complete: lost.length === 0 && unreadable.length === 0 && other.length === 0
    }
  }

  return { step, nameLostRows, copyFences, report }
}

// --- the effect ---

const toError = (cause: unknown): KeyValueStoreError => {
  const inner = cause instanceof Fatal ? cause.cause : cause
  if (isKeyValueStoreError(inner)) return inner
  const typed = sqlSchema.toError(backend, "recover", undefined, inner)
  return typed._tag === "StoreCorrupted" && !(cause instanceof Fatal)
    ? typed
    : typed._tag === "Busy"
    ? typed
    : new BackendError({ method: "recover", backend, cause: inner })
}

const attempt = <A>(f: () => A) =>
  Effect.try({ try: f, catch: (cause) => toError(cause) as StoreCorrupted | BackendError | Busy })

/**
 * The recovery of `options.from` into `options.to`; `create` makes the new store file (the store's own `make`, so the
 * schema is exactly the current one).
 *
 * @internal
 */
export const recover = (
  options: SqliteStore.RecoverOptions,
  create: (
    filename: string,
    table: string
  ) => Effect.Effect<void, StoreCorrupted | BackendError | Busy | InvalidArgument>
): Effect.Effect<SqliteStore.RecoverReport, StoreCorrupted | BackendError | Busy | InvalidArgument> =>
  Effect.gen(function*() {
    if (typeof options !== "object" || options === null) return yield* invalid("options", "expected an object")
    const table = sqlSchema.tableOf(options.table)
    if (table instanceof InvalidArgument) return yield* invalid("table", table.reason)
    const paths: Record<"from" | "to", string> = { from: "", to: "" }
    for (const argument of ["from", "to"] as const) {
      const file = options[argument]
      if (typeof file !== "string" || file === "" || file.includes("\u0000") || sqliteFile.isMemory(file)) {
        return yield* invalid(argument, "expected the name of a database file")
      }
      paths[argument] = path.resolve(sqliteFile.expandHome(file))
    }
    const { from, to } = paths
    if (!fs.statSync(from, { throwIfNoEntry: false })?.isFile()) return yield* invalid("from", `no file ${from}`)
    if (from === to) return yield* invalid("to", "must differ from from: recover never writes to the damaged file")
    if ([to, `${to}-wal`, largeValues.directoryOf(to)].some((file) => fs.existsSync(file))) {
      return yield* invalid("to", `${to} exists: recover writes a new file`)
    }
    yield* attempt(() => sqliteFile.makeDirectories(path.dirname(to)))
    const work = `${to}.recover-${crypto.randomBytes(8).toString("hex")}`

    const run = Effect.gen(function*() {
      const { db: source, rebuilt } = yield* Effect.acquireRelease(
        attempt(() => {
          fs.copyFileSync(from, work, fs.constants.COPYFILE_FICLONE)
          if (fs.existsSync(`${from}-wal`)) fs.copyFileSync(`${from}-wal`, `${work}-wal`, fs.constants.COPYFILE_FICLONE)
          return openSource(work, table, 5000)
        }),
        ({ db }) => Effect.sync(() => db.close())
      )
      const tables = yield* attempt(() =>
        new Set(
          source.prepare<[], string>("SELECT name FROM main.sqlite_master WHERE type = 'table'").pluck().all()
        )
      )
      if (!tables.has(table)) {
        return yield* new StoreCorrupted({ method: "recover", backend, reason: `${from} holds no table ${table}` })
      }
      // A table of another format would be misread; an unreadable format row does not stop the recovery.
      const format = yield* attempt(() => {
        if (!tables.has(`${table}_meta`)) return undefined
        try {
          return source.prepare(`SELECT value FROM main."${table}_meta" WHERE name = 'format'`).pluck().get()
        } catch (error) {
          if (isReadFailure(error)) return undefined
          throw error
        }
      })
      if (format !== undefined) {
        const mismatch = sqlSchema.checkFormat(backend, table, from, format, "sqlite")
        if (mismatch !== undefined) {
          return yield* new StoreCorrupted({ method: "recover", backend, reason: mismatch.reason })
        }
      }
      const engine = yield* attempt(() => {
        try {
          return source.prepare<[], string>("PRAGMA quick_check(100)").pluck().all()
        } catch (error) {
          if (isReadFailure(error)) return [messageOf(error)]
          throw error
        }
      })

      yield* create(to, table)
      const target = yield* Effect.acquireRelease(
        attempt(() => new Database(to, { timeout: 5000 })),
        (db) => Effect.sync(() => db.close())
      )
      const copy = yield* attempt(() =>
        copier({ source, target, table, fromFiles: largeValues.directoryOf(from), toFile: to })
      )
      const transaction = <A>(f: () => A) =>
        attempt(() => {
          target.exec("BEGIN IMMEDIATE")
          try {
            const a = f()
            target.exec("COMMIT")
            return a
          } catch (error) {
            if (target.inTransaction) target.exec("ROLLBACK")
            throw error
          }
        })
      while (yield* transaction(copy.step)) yield* Effect.yieldNow()
      yield* transaction(copy.nameLostRows)
      yield* transaction(copy.copyFences)
      yield* attempt(() => target.pragma("wal_checkpoint(TRUNCATE)"))
      return copy.report(engine, rebuilt)
    })

    return yield* Effect.scoped(run).pipe(
      Effect.onExit((exit) =>
        Effect.sync(() => {
          removeFiles(work)
          if (exit._tag === "Failure") {
            removeFiles(to)
            fs.rmSync(largeValues.directoryOf(to), { recursive: true, force: true })
          }
        })
      )
    )
  })
