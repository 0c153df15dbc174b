/**
 * Large values of a SqliteStore, kept as files beside the database in `<database file>.files/` (created on first
 * need). A value larger than the threshold is written to a temp file of a fresh random name, flushed to disk and
 * renamed to `<random>.<crc>.value` before the row that names it is written, so a crash leaves at most an unnamed
 * (orphaned) file, never a row naming a missing one. `<crc>` is the CRC-32 of the file's bytes (8 hex digits, see
 * `crc32.ts`): the row names its value's checksum with its file, in one column that no writer can update apart from
 * the other, and every read verifies the length and the checksum (`StoreCorrupted` naming the key otherwise). Files
 * named `<random>.value`, written by format 2 (before checksums), are verified by their length only until their key
 * is written again. Files a row stops naming (overwritten or deleted by any
 * statement) are reported by temp triggers of the store's own connection and deleted only once the operation that
 * released them committed; files written by an operation that failed are deleted at once. Other connections (other
 * processes, `SqlStore`) have no such triggers: their deletions leave orphans for `check` to find. Every deletion is
 * best effort, and only names of the store's own form are ever joined to the directory.
 *
 * @internal
 */
import type Database from "better-sqlite3"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { InvalidArgument, StoreCorrupted } from "../../KeyValueStoreError.js"
import * as crc32 from "../crc32.js"

/**
 * Values strictly larger than this many bytes go to files unless configured otherwise (32 KiB).
 *
 * @internal
 */
export const DEFAULT_THRESHOLD = 32 * 1024

const errorCode = (error: unknown): unknown => (error as { readonly code?: unknown } | undefined)?.code

const valueFileName = /^[0-9a-f]{32}(?:\.([0-9a-f]{8}))?\.value$/

/**
 * The name of a value file: 32 lowercase hex digits, then a dot and the 8 hex digits of the content's CRC-32 (absent
 * from files of format 2), then `.value`. A `file` column holding anything else was not written by a store and is
 * never opened or deleted.
 *
 * @internal
 */
export const isValueFile = (name: string): boolean => valueFileName.test(name)

/**
 * The CRC-32 a value file's name carries; `undefined` for a name of format 2, which carries none.
 *
 * @internal
 */
export const checksumOf = (name: string): number | undefined => {
  const hex = valueFileName.exec(name)?.[1]
  return hex === undefined ? undefined : Number.parseInt(hex, 16)
}

/** Bytes read and checksummed at a time: while a chunk is in the CPU's cache (a quarter less CPU than in one go). */
const CHUNK = 256 * 1024

const altered = (actual: number, expected: number): string =>
  `fails its checksum (CRC-32 ${crc32.toHex(actual)}, not ${crc32.toHex(expected)}): its content was altered`

/**
 * Reads the value file at `file` (named `name`, by a row of `size` bytes when known) in chunks, checking its length
 * and, chunk by chunk, the checksum its name carries: `defect` says what is wrong (the bytes are then not returned),
 * `bytes` are the value when `keep` (otherwise one chunk's buffer is reused, for checks that only verify). Throws what
 * opening or reading throws (`ENOENT` for a missing file).
 *
 * @internal
 */
export const readFile = (
  file: string,
  name: string,
  size: number | undefined,
  keep: boolean
): { readonly bytes: Buffer | undefined; readonly defect: string | undefined } => {
  const fd = fs.openSync(file, "r")
  try {
    const stat = fs.fstatSync(fd)
    if (!stat.isFile()) return { bytes: undefined, defect: "is not a file" }
    const length = size ?? stat.size
    if (stat.size !== length) return { bytes: undefined, defect: `holds ${stat.size} bytes, not ${length}` }
    const expected = checksumOf(name)
    if (expected === undefined && !keep) return { bytes: undefined, defect: undefined }
    const bytes = keep ? Buffer.allocUnsafe(length) : undefined
    const chunk = bytes ?? Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, length)))
    let crc = 0
    let total = 0
    while (total < length) {
      const at = bytes === undefined ? 0 : total
      const n = fs.readSync(fd, chunk, at, Math.min(CHUNK, length - total), total)
      if (n === 0) break
      if (expected !== undefined) crc = crc32.crc32(chunk.subarray(at, at + n), crc)
      total += n
    }
    if (total !== length) return { bytes: undefined, defect: `holds ${total} bytes, not ${length}` }
    if (expected !== undefined && crc !== expected) return { bytes: undefined, defect: altered(crc, expected) }
    return { bytes, defect: undefined }
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * What is wrong with the value file at `file` (named `name`, by a row of `size` bytes): missing, unreadable, not a
 * file, of another length or failing its checksum; `undefined` when sound.
 *
 * @internal
 */
export const inspectFile = (file: string, name: string, size: number): string | undefined => {
  try {
    return readFile(file, name, size, false).defect
  } catch (error) {
    return errorCode(error) === "ENOENT" ? "is missing" : `cannot be read (${String(errorCode(error))})`
  }
}

/**
 * The name of a temp file (a write that has not been renamed yet, or was cut short by a crash).
 *
 * @internal
 */
export const isTempFile = (name: string): boolean => /^[0-9a-f]{32}\.tmp$/.test(name)

/**
 * The directory of a database's value files.
 *
 * @internal
 */
export const directoryOf = (databaseFile: string): string => `${path.resolve(databaseFile)}.files`

/**
 * The `largeValueThreshold` option checked: a non-negative safe integer, or `Infinity` (every value inline).
 *
 * @internal
 */
export const thresholdOf = (threshold: number | undefined): number | InvalidArgument => {
  const n = threshold ?? DEFAULT_THRESHOLD
  return n === Infinity || (Number.isSafeInteger(n) && n >= 0) ? n : new InvalidArgument({
    method: "open",
    argument: "largeValueThreshold",
    reason: `expected a non-negative integer or Infinity, got ${n}`
  })
}

/**
 * A row as read, with the value inline or, when `file` is not null, in that file.
 *
 * @internal
 */
export interface Row {
  readonly value: Uint8Array | ArrayBuffer
  readonly file: string | null
  readonly size?: number | bigint | string | undefined
}

/** @internal */
export interface LargeValues {
  /** The directory of the files; `undefined` for an in-memory database, which keeps every value inline. */
  readonly directory: string | undefined
  /**
   * Writes `value` to a new file when it is larger than the threshold and returns the file's name (the operation
   * around it, `run`, deletes the file again if it fails); `null` keeps the value inline.
   */
  readonly spill: (value: Uint8Array) => string | null
  /**
   * Runs one operation that writes or removes rows: files released while it ran are deleted once it returned (its
   * statement or transaction committed), files it spilled are deleted if it throws (rolled back). Nested runs join
   * the outermost one.
   */
  readonly run: <A>(f: () => A) => A
  /**
   * Opens a level of a transaction region (or a savepoint in one): until the outermost level commits, released
   * files are kept, and a level that rolls back deletes the files spilled inside it and forgets the ones it released.
   */
  readonly begin: () => void
  readonly commit: () => void
  readonly rollback: () => void
  /**
   * The row with its value read from its file when it has one. A missing file is read again through `reread` (the
   * same query): another process may have replaced the row and deleted the file after its commit, between this
   * process's query and its read. A row that still names the missing file, an unreadable file, one whose size is
   * not the row's or whose content fails the checksum its name carries is `StoreCorrupted` naming the key and the
   * file. `undefined` when the reread finds no row.
   */
  readonly load: <R extends Row>(
    method: string,
    key: string,
    row: R,
    reread: () => R | undefined
  ) => R | undefined
  /** Bytes of the files in the directory (value files, temp files and orphans alike). */
  readonly volume: () => number
}

const ignoreErrors = (f: () => void): void => {
  try {
    f()
  } catch {
    // best effort: an undeleted file is an orphan that `check` finds
  }
}

const writeAll = (fd: number, value: Uint8Array): void => {
  for (let offset = 0; offset < value.byteLength;) {
    offset += fs.writeSync(fd, value, offset, value.byteLength - offset)
  }
}

/**
 * The large-value files of one connection: registers the `kv_release_file` function and the temp triggers that call
 * it whenever a row of `table` stops naming a file.
 *
 * @internal
 */
export const make = (
  db: Database.Database,
  options: {
    readonly backend: string
    readonly table: string
    readonly databaseFile: string | undefined
    readonly threshold: number
    /** Whether written files (and the directory entry of their rename) are flushed to disk before the row is written. */
    readonly durable: boolean
  }
): LargeValues => {
  const { backend, durable, table } = options
  const directory = options.databaseFile === undefined ? undefined : directoryOf(options.databaseFile)
  const threshold = directory === undefined ? Infinity : options.threshold
  let spilled: Array<string> = []
  let released: Array<string> = []

  const unlink = (names: ReadonlyArray<string>): void => {
    if (directory === undefined) return
    for (const name of names) if (isValueFile(name)) ignoreErrors(() => fs.unlinkSync(path.join(directory, name)))
  }

  db.function("kv_release_file", { deterministic: false, varargs: false }, (name: unknown) => {
    if (typeof name === "string") released.push(name)
    return null
  })
  const t = `main."${table}"`
  db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS "${table}_release_update" AFTER UPDATE OF file ON ${t}
    WHEN old.file IS NOT NULL AND old.file IS NOT new.file BEGIN SELECT kv_release_file(old.file); END`)
  db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS "${table}_release_delete" AFTER DELETE ON ${t}
    WHEN old.file IS NOT NULL BEGIN SELECT kv_release_file(old.file); END`)

  const makeDirectory = (dir: string): void => {
    try {
      fs.mkdirSync(dir)
    } catch (error) {
      if (errorCode(error) !== "EEXIST") throw error
    }
  }

  const syncDirectory = (dir: string): void => {
    // Not every platform can open a directory for fsync (Windows); the rename is then as durable as it gets.
    ignoreErrors(() => {
      const fd = fs.openSync(dir, "r")
      try {
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
    })
  }

  let directoryMade = false
  const spill = (value: Uint8Array): string | null => {
    if (value.byteLength <= threshold || directory === undefined) return null
    if (!directoryMade) {
      makeDirectory(directory)
      directoryMade = true
    }
    const base = crypto.randomBytes(16).toString("hex")
    const temp = path.join(directory, `${base}.tmp`)
    const name = `${base}.${crc32.toHex(crc32.crc32(value))}.value`
    let fd: number
    try {
      fd = fs.openSync(temp, "wx")
    } catch (error) {
      // The directory was removed behind the store's back: make it again, once.
      if (errorCode(error) !== "ENOENT") throw error
      makeDirectory(directory)
      fd = fs.openSync(temp, "wx")
    }
    try {
      try {
        writeAll(fd, value)
        if (durable) fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
      fs.renameSync(temp, path.join(directory, name))
    } catch (error) {
      ignoreErrors(() => fs.unlinkSync(temp))
      throw error
    }
    if (durable) syncDirectory(directory)
    if (marks.length > 0) spilled.push(name)
    return name
  }

  // One level per open change (an operation, or a transaction region and its savepoints): where its files start in
  // `spilled` and `released`.
  const marks: Array<readonly [spilled: number, released: number]> = []

  const begin = (): void => {
    marks.push([spilled.length, released.length])
  }

  const commit = (): void => {
    marks.pop()
    if (marks.length > 0) return
    const toDelete = released
    spilled = []
    released = []
    if (toDelete.length > 0) unlink(toDelete)
  }

  const rollback = (): void => {
    const [spilledFrom, releasedFrom] = marks.pop() ?? [0, 0]
    unlink(spilled.slice(spilledFrom))
    spilled.length = spilledFrom
    released.length = releasedFrom
  }

  const run = <A>(f: () => A): A => {
    begin()
    let result: A
    try {
      result = f()
    } catch (error) {
      rollback()
      throw error
    }
    commit()
    return result
  }

  const corrupted = (method: string, key: string, name: string, what: string, cause?: unknown) =>
    new StoreCorrupted({
      method,
      key,
      backend,
      reason: `the value file ${name} of key ${JSON.stringify(key)} ${what}` +
        (directory === undefined ? "" : ` (in ${directory})`),
      ...(cause === undefined ? {} : { cause })
    })

  const load = <R extends Row>(method: string, key: string, row: R, reread: () => R | undefined): R | undefined => {
    let current: R | undefined = row
    for (let attempt = 0; current !== undefined && current.file !== null; attempt++) {
      const name: string = current.file
      if (directory === undefined || !isValueFile(name)) {
        throw corrupted(method, key, JSON.stringify(name), "is not a name this store writes")
      }
      let read: ReturnType<typeof readFile>
      try {
        read = readFile(
          path.join(directory, name),
          name,
          current.size === undefined ? undefined : Number(current.size),
          true
        )
      } catch (cause) {
        if (errorCode(cause) !== "ENOENT") throw corrupted(method, key, name, "cannot be read", cause)
        current = reread()
        if (current?.file === name || attempt >= 8) throw corrupted(method, key, name, "is missing", cause)
        continue
      }
      if (read.bytes === undefined) throw corrupted(method, key, name, read.defect ?? "cannot be read")
      return { ...current, value: read.bytes, file: null } as R
    }
    return current
  }

  const volume = (): number => {
    if (directory === undefined) return 0
    let names: Array<string>
    try {
      names = fs.readdirSync(directory)
    } catch (error) {
      if (errorCode(error) === "ENOENT") return 0
      throw error
    }
    let total = 0
    for (const name of names) total += fs.statSync(path.join(directory, name), { throwIfNoEntry: false })?.size ?? 0
    return total
  }

  return { directory, spill, run, begin, commit, rollback, load, volume }
}
