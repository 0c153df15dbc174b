/**
 * The store on a Redis server (or Valkey, or a Redis Cluster) through ioredis. Several stores share one database
 * under different key prefixes (default `"effect-kv:"`): an entry is the hash `<prefix>e:<key>`, the sorted set
 * `<prefix>i` indexes every key (all scores 0, so `ZRANGEBYLEX` pages keys in UTF-8 byte order), `<prefix>x` holds
 * each expiring key scored by its expiry, `<prefix>t:<tag>` holds the keys carrying a tag, and `<prefix>l:<name>` /
 * `<prefix>f:<name>` are the lease and fence counter of a lock. Prefixes of stores sharing a database must not be
 * prefixes of one another.
 *
 * Expiry follows the store's `Clock` (a `TestClock` in tests): every read treats an entry whose expiry has passed as
 * absent, the sweeper (and `expire`) removes expired entries with their index and tag members, and Redis itself drops
 * an entry by `PEXPIRE` as a backstop, `nativeExpiryGrace` (default one minute) after its expiry: the time the entry
 * has left by the store's `Clock` when it is written, plus the grace, counted on the server's clock from then on (so a
 * store opened under one `Clock` and used under another, a `TestClock` at epoch 0 or the live one, keeps the same
 * backstop). Reads tolerate the index members such a natively dropped entry leaves behind; the sweeper removes them,
 * and once it met such an entry it walks the tag sets (in bounded `SSCAN` steps) to remove the members the entry's tags
 * left there. Writes are Lua scripts; `get` is one `HMGET`, batches are one round trip, and read-modify-writes
 * (`increment`, `compareAndSwap`, `update`, ...) read the entry, run their function, and write with a script that
 * checks the entry's revision is unchanged, retrying on conflict: atomic across every client of the server. Locks are
 * leases in Lua, expiring by the store's `Clock`; a fenced write checks the lock's lease in the script that writes (the
 * lease set shares the prefix's hash tag, so on a Cluster it is in the entries' slot). Transactions are not supported.
 * `check` verifies that the index, the expiry set and the tag sets agree with the entries, and repairs them with `fix`.
 *
 * Connection failures are typed errors within `commandTimeout`, never hangs: a command whose reply has not come by
 * then (a paused server, a partition) fails with `Timeout`, a lost connection with `BackendError` at once (the
 * store's own client does not queue commands while disconnected), and the client reconnects by itself when the server
 * returns. A lock's own `timeout` bounds its acquisition even when it is the shorter.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as IORedis from "ioredis"
import type { Cluster, Redis, RedisOptions } from "ioredis"
import * as crypto from "node:crypto"
import * as Driver from "../internal/driver.js"
import * as redisLeases from "../internal/redis/leases.js"
import * as scripts from "../internal/redis/scripts.js"
import * as sweeper from "../internal/sweeper.js"
import * as validate from "../internal/validate.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { KeyValueStoreError, MissingDependency } from "../KeyValueStoreError.js"
import {
  BackendError,
  InvalidArgument,
  isKeyValueStoreError,
  LockLost,
  StoreCorrupted,
  Timeout
} from "../KeyValueStoreError.js"

/**
 * A client the store can run on: a standalone ioredis client or a Cluster.
 *
 * @since 0.1.0
 * @category models
 */
export type Client = Redis | Cluster

/**
 * Options of a store on a client the application owns (`fromClient`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions extends KeyValueStore.StoreOptions, KeyValueStore.SweepOptions {
  /**
   * Prefix of every Redis key of the store (default `"effect-kv:"`). On a Cluster it must contain a hash tag
   * (`"{kv}:"`), so that all the store's keys live in one slot.
   */
  readonly prefix?: string | undefined
  /** Longest wait for the reply to one command before it fails with `Timeout` (default 5 seconds). */
  readonly commandTimeout?: Duration.DurationInput | undefined
  /**
   * How long after its expiry Redis drops an entry by itself if the sweeper has not removed it (default 1 minute);
   * `Duration.infinity` leaves expiry to the sweeper alone.
   */
  readonly nativeExpiryGrace?: Duration.DurationInput | undefined
}

/**
 * Options of a store with a client of its own (`make`, `layer`): where the server is, and the `ClientOptions`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends ClientOptions {
  /** `redis://[[user]:password@]host[:port][/db]` (or `rediss://` for TLS). Fields given below override it. */
  readonly url?: Redacted.Redacted<string> | string | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly db?: number | undefined
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** Longest wait for the connection at open (default 5 seconds). */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

/**
 * What a `RedisStore` can do.
 *
 * @since 0.1.0
 * @category models
 */
export const capabilities: KeyValueStore.Capabilities = {
  persistent: true,
  expiry: true,
  eviction: false,
  crossProcess: true,
  orderedKeys: true,
  enumeration: true,
  tags: true,
  metadata: true,
  transactions: false,
  locks: true,
  check: true,
  volume: false,
  fencedWrites: true
}

/**
 * The errors of building a `RedisStore`: a server that cannot be reached or answers with an error, options out of
 * range, or `ioredis` not installed (`make`, `layer`).
 *
 * @since 0.1.0
 * @category models
 */
export type OpenError = BackendError | InvalidArgument | MissingDependency

const backend = "redis"

const DEFAULT_PREFIX = "effect-kv:"
const DEFAULT_COMMAND_TIMEOUT = 5_000
const DEFAULT_CONNECT_TIMEOUT = 5_000
const DEFAULT_GRACE = 60_000
/** Index members one script call of an enumeration examines at most (bounded work per call). */
const SCAN_BUDGET = 1000
/** Index members a count examines per script call. */
const COUNT_BUDGET = 5000
/** Entries removed per script call of `removeRange`. */
const REMOVE_BATCH = 500
/** Tag-set members per `SSCAN` step of `removeTag` and `check`. */
const TAG_BATCH = 500
/** Tag sets one script call of `check` steps at most. */
const CHECK_TAG_SETS = 1000
/** What `check({ fix: true })` did about each problem it found. */
const REPAIRS: Readonly<Record<string, string>> = {
  orphan: "removed index members whose entry is gone",
  drift: "corrected the expiry set",
  untagged: "added entries missing from their tag sets",
  unindexed: "indexed entries missing from the index",
  "stale tag": "removed tag-set members whose entry does not carry the tag"
}

/** The scripts of the common operations, loaded at open. */
const HOT_SCRIPTS: ReadonlyArray<scripts.Script> = [
  scripts.setSimple,
  scripts.setManySimple,
  scripts.getMany,
  scripts.set,
  scripts.setMany
]

/** Conflicts a read-modify-write tolerates before it gives up with `BackendError`. */
const MAX_CONFLICTS = 100_000

interface Settings {
  readonly store: KeyValueStore.StoreOptions
  readonly prefix: string
  readonly commandTimeout: number
  readonly grace: number | undefined
  readonly sweep: sweeper.Settings
}

const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "open", argument, reason })

const millisOption = (
  argument: string,
  input: Duration.DurationInput | undefined,
  fallback: number,
  allowInfinite: boolean
): number | InvalidArgument => {
  if (input === undefined) return fallback
  const millis = validate.durationMillis(input)
  if (millis === undefined || !(millis > 0) || (millis === Infinity && !allowInfinite)) {
    return invalid(
      argument,
      `expected a positive ${allowInfinite ? "" : "finite "}duration, got ${validate.show(input)}`
    )
  }
  return millis
}

/** The hash tag of a key (what Redis Cluster hashes), or `undefined` when it has none. */
const hashTagOf = (text: string): string | undefined => {
  const open = text.indexOf("{")
  if (open < 0) return undefined
  const close = text.indexOf("}", open + 1)
  return close <= open + 1 ? undefined : text.slice(open + 1, close)
}

const settingsOf = (options: ClientOptions, cluster: boolean): Settings | InvalidArgument => {
  const storeError = validate.checkStoreOptions(options)
  if (storeError !== undefined) return storeError
  const prefix = options.prefix ?? DEFAULT_PREFIX
  if (typeof prefix !== "string" || prefix.length === 0 || !prefix.isWellFormed()) {
    return invalid("prefix", "expected a non-empty string of valid Unicode")
  }
  if (cluster && hashTagOf(prefix) === undefined) {
    return invalid(
      "prefix",
      `on a Redis Cluster the prefix must contain a hash tag such as "{kv}:" so that every key of the store lives in ` +
        `one slot, got ${JSON.stringify(prefix)}`
    )
  }
  const commandTimeout = millisOption("commandTimeout", options.commandTimeout, DEFAULT_COMMAND_TIMEOUT, false)
  if (commandTimeout instanceof InvalidArgument) return commandTimeout
  let grace: number | undefined = DEFAULT_GRACE
  if (options.nativeExpiryGrace !== undefined) {
    const millis = validate.durationMillis(options.nativeExpiryGrace)
    if (millis === undefined) {
      return invalid(
        "nativeExpiryGrace",
        `expected a non-negative duration, got ${validate.show(options.nativeExpiryGrace)}`
      )
    }
    grace = millis === Infinity ? undefined : millis
  }
  const sweep = sweeper.settings(options)
  if (sweep instanceof InvalidArgument) return sweep
  const store = { separator: options.separator, maxKeyBytes: options.maxKeyBytes, maxValueBytes: options.maxValueBytes }
  return { store, prefix, commandTimeout: Math.ceil(commandTimeout), grace, sweep }
}

const isCluster = (client: Client): client is Cluster => (client as { readonly isCluster?: boolean }).isCluster === true

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

// ioredis returns values as views into the socket's read chunk (or into its parser's shared pool for big replies):
// a value the caller keeps would keep the whole chunk alive, and expose its neighbours through `.buffer`. A value
// that does not own its memory is copied out.
const owned = (bytes: Buffer): Uint8Array =>
  bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength ? bytes : new Uint8Array(bytes)

const OPEN = Buffer.from("(")
const CLOSED = Buffer.from("[")
const TOP = Buffer.from([0xff])
const MIN = Buffer.from("-")
const MAX = Buffer.from("+")

/** `ZRANGEBYLEX` bounds of a key range: keys starting with `prefix` (UTF-8 never holds 0xFF), strictly after `after`. */
const boundsOf = (range: KeyValueStore.KeyRange): readonly [Buffer, Buffer] => {
  const prefix = Buffer.from(range.prefix, "utf8")
  const max = prefix.length === 0 ? MAX : Buffer.concat([OPEN, prefix, TOP])
  if (range.after !== undefined) {
    const after = Buffer.from(range.after, "utf8")
    if (Buffer.compare(after, prefix) >= 0) return [Buffer.concat([OPEN, after]), max]
  }
  return [prefix.length === 0 ? MIN : Buffer.concat([CLOSED, prefix]), max]
}

const escapeGlob = (text: string): string => text.replace(/[*?[\]\\]/g, "\\$&")

// ioredis attaches the failed command to its reply errors, arguments included (values, and whole scripts after an
// EVAL fallback): the error keeps its name and message only.
const withoutArguments = (cause: unknown): unknown => {
  if (!(cause instanceof Error) || !("command" in cause)) return cause
  const error = new Error(cause.message)
  error.name = cause.name
  return error
}

const isNoScript = (error: unknown): boolean => error instanceof Error && error.message.startsWith("NOSCRIPT")

const corrupted = (method: string, key: string, field: string, what: string, cause?: unknown) =>
  new StoreCorrupted({
    method,
    key,
    backend,
    reason: `hash field ${field} of key ${JSON.stringify(key)} ${what}`,
    ...(cause === undefined ? {} : { cause })
  })

const FIELD_NAMES: Readonly<Record<string, string>> = {
  v: "v (value)",
  x: "x (expiresAt)",
  c: "c (createdAt)",
  u: "u (updatedAt)",
  t: "t (tags)",
  m: "m (metadata)"
}

/** An expiry, createdAt or updatedAt field as a number, `undefined` when absent, or `StoreCorrupted`. */
const numberField = (
  method: string,
  key: string,
  field: string,
  bytes: Buffer | null | undefined
): number | undefined | StoreCorrupted => {
  if (bytes === null || bytes === undefined) return undefined
  const text = bytes.toString("latin1")
  const n = Number(text)
  return text.length === 0 || !Number.isFinite(n)
    ? corrupted(method, key, FIELD_NAMES[field]!, `does not hold a number: ${JSON.stringify(text.slice(0, 40))}`)
    : n
}

/** The state of an entry as a read-modify-write sees it: the live entry (if any) and the revision read. */
interface State {
  readonly entry: Option.Option<KeyValueStore.Entry>
  readonly revision: string
}

const absent: State = { entry: Option.none(), revision: "" }

const readState = (
  method: string,
  key: string,
  fields: Record<string, Buffer>,
  now: number
): State | StoreCorrupted => {
  const revision = fields.r === undefined ? "" : fields.r.toString("latin1")
  let any = false
  for (const _ in fields) {
    any = true
    break
  }
  if (!any) return absent
  const expiresAt = numberField(method, key, "x", fields.x)
  if (expiresAt instanceof StoreCorrupted) return expiresAt
  if (expiresAt !== undefined && expiresAt <= now) return { entry: Option.none(), revision }
  const value = fields.v
  if (value === undefined) return corrupted(method, key, FIELD_NAMES.v!, "is missing")
  const createdAt = numberField(method, key, "c", fields.c)
  if (createdAt instanceof StoreCorrupted) return createdAt
  const updatedAt = numberField(method, key, "u", fields.u)
  if (updatedAt instanceof StoreCorrupted) return updatedAt
  if (createdAt === undefined) return corrupted(method, key, FIELD_NAMES.c!, "is missing")
  const parse = (field: "t" | "m"): { readonly json: unknown } | StoreCorrupted => {
    try {
      return { json: JSON.parse(fields[field]!.toString("utf8")) }
    } catch (cause) {
      const why = cause instanceof Error ? cause.message : String(cause)
      return corrupted(method, key, FIELD_NAMES[field]!, `holds damaged JSON: ${why}`, cause)
    }
  }
  let tags: ReadonlyArray<string> = []
  if (fields.t !== undefined) {
    const parsed = parse("t")
    if (parsed instanceof StoreCorrupted) return parsed
    if (!Array.isArray(parsed.json) || !parsed.json.every((tag) => typeof tag === "string")) {
      return corrupted(method, key, FIELD_NAMES.t!, "does not hold a JSON array of strings")
    }
    tags = Object.freeze(parsed.json as Array<string>)
  }
  let metadata: Option.Option<KeyValueStore.Metadata> = Option.none()
  if (fields.m !== undefined) {
    const parsed = parse("m")
    if (parsed instanceof StoreCorrupted) return parsed
    if (typeof parsed.json !== "object" || parsed.json === null || Array.isArray(parsed.json)) {
      return corrupted(method, key, FIELD_NAMES.m!, "does not hold a JSON object")
    }
    metadata = Option.some(parsed.json as KeyValueStore.Metadata)
  }
  return {
    entry: Option.some({
      key,
      value: owned(value),
      expiresAt: Option.fromNullable(expiresAt),
      tags,
      metadata,
      createdAt,
      updatedAt: updatedAt ?? createdAt,
      size: value.byteLength
    }),
    revision
  }
}

/**
 * The value of a live entry from `HMGET v x`: none when absent or expired, `StoreCorrupted` for an expiry that is not
 * a number.
 */
const valueOf = (
  method: string,
  key: string,
  reply: ReadonlyArray<Buffer | null>,
  now: number
): Option.Option<Uint8Array> | StoreCorrupted => {
  const value = reply[0]
  const x = reply[1]
  if (x !== null && x !== undefined) {
    const expiresAt = numberField(method, key, "x", x)
    if (expiresAt instanceof StoreCorrupted) return expiresAt
    if (expiresAt! <= now) return Option.none()
  }
  return value === null || value === undefined ? Option.none() : Option.some(owned(value))
}

/** Whether an entry is live from `HMGET c x`, with its expiry; `StoreCorrupted` for a damaged expiry. */
const expiryOf = (
  method: string,
  key: string,
  reply: ReadonlyArray<Buffer | null>,
  now: number
): Option.Option<number | null> | StoreCorrupted => {
  const [c, x] = reply
  if ((c === null || c === undefined) && (x === null || x === undefined)) return Option.none()
  const expiresAt = numberField(method, key, "x", x)
  if (expiresAt instanceof StoreCorrupted) return expiresAt
  if (expiresAt === undefined) return Option.some(null)
  return expiresAt <= now ? Option.none() : Option.some(expiresAt)
}

/**
 * Builds the store on `client`. `guard`: also bound every call with a timer of our own (for a client whose commands
 * ioredis may queue without a deadline).
 */
const build = (
  client: Client,
  settings: Settings,
  guard: boolean
): Effect.Effect<KeyValueStore.Service, BackendError, Scope.Scope> =>
  Effect.gen(function*() {
    const { commandTimeout, prefix } = settings
    const guardMillis = guard ? commandTimeout : undefined
    const indexKey = prefix + "i"
    const entryPrefix = prefix + "e:"
    const keysOfScripts = [indexKey]

    const backendError = (method: string, key: string | undefined, cause: unknown) =>
      new BackendError({ method, key, backend, cause: withoutArguments(cause) })
    // A command that failed: `Timeout` when ioredis gave up waiting for its reply, `BackendError` otherwise.
    const commandError = (method: string, key: string | undefined, cause: unknown): KeyValueStoreError =>
      cause instanceof Error && cause.message === "Command timed out"
        ? new Timeout({ method, key, millis: commandTimeout })
        : backendError(method, key, cause)

    // One round trip as an Effect: the reply is turned into the result (or a typed failure) in the same step.
    const lift = <R, A>(
      method: string,
      key: string | undefined,
      send: () => Promise<R>,
      reply: (r: R) => A | KeyValueStoreError
    ): Effect.Effect<A, KeyValueStoreError> =>
      Effect.async<A, KeyValueStoreError>((resume) => {
        let settled = false
        let timer: ReturnType<typeof setTimeout> | undefined = undefined
        const settle = (effect: Effect.Effect<A, KeyValueStoreError>) => {
          if (settled) return
          settled = true
          if (timer !== undefined) clearTimeout(timer)
          resume(effect)
        }
        const failed = (cause: unknown) => settle(Effect.fail(commandError(method, key, cause)))
        let promise: Promise<R>
        try {
          promise = send()
        } catch (cause) {
          return failed(cause)
        }
        promise.then((r) => {
          let out: A | KeyValueStoreError
          try {
            out = reply(r)
          } catch (cause) {
            return failed(cause)
          }
          settle(isKeyValueStoreError(out) ? Effect.fail(out) : Effect.succeed(out))
        }, failed)
        if (guardMillis === undefined || settled) return
        timer = setTimeout(() => settle(Effect.fail(new Timeout({ method, key, millis: guardMillis }))), guardMillis)
        return Effect.sync(() => clearTimeout(timer))
      })

    const evalScript = (
      script: scripts.Script,
      keys: ReadonlyArray<string>,
      args: ReadonlyArray<string | Buffer>,
      buffers: boolean
    ): Promise<unknown> => {
      const argv: Array<string | Buffer | number> = [script.sha, keys.length, ...keys, ...args]
      const sent = buffers ? client.callBuffer("EVALSHA", argv) : client.call("EVALSHA", argv)
      return sent.catch((error: unknown) => {
        if (!isNoScript(error)) throw error
        argv[0] = script.lua
        return buffers ? client.callBuffer("EVAL", argv) : client.call("EVAL", argv)
      })
    }

    const run = <A>(
      method: string,
      key: string | undefined,
      script: scripts.Script,
      args: ReadonlyArray<string | Buffer>,
      reply: (r: unknown) => A | KeyValueStoreError,
      buffers = false
    ) => lift(method, key, () => evalScript(script, keysOfScripts, args, buffers), reply)

    // A writing script, in its fenced variant when a fence is given: the lease set is its second key and the holder's
    // slot its last argument; the variant's refusal is `LockLost`.
    const runWrite = <A>(
      method: string,
      key: string | undefined,
      script: scripts.Script,
      args: ReadonlyArray<string | Buffer>,
      reply: (r: unknown) => A | KeyValueStoreError,
      fence: KeyValueStore.Fence | undefined
    ): Effect.Effect<A, KeyValueStoreError> => {
      if (fence === undefined) return run(method, key, script, args, reply)
      const keys = [indexKey, redisLeases.leaseKey(prefix, fence.name)]
      return Effect.mapError(
        lift(method, key, () => evalScript(scripts.fenced(script), keys, [...args, fence.owner], false), reply),
        (error) =>
          error._tag === "BackendError" && error.cause instanceof Error &&
            error.cause.message.startsWith(scripts.FENCE_REPLY)
            ? new LockLost({ method, key, name: fence.name })
            : error
      )
    }

    const asNumber = (r: unknown) => Number(r)
    const done = () => undefined

    // One round trip at open: a client that cannot reach its server fails the build, not the first operation.
    yield* Effect.mapError(
      lift("open", undefined, () => client.ping(), (r) => r),
      (error) => error._tag === "BackendError" ? error : backendError("open", undefined, error)
    )
    // The hot scripts are loaded at open (on every master of a Cluster), so the first call of each is one round trip
    // too; best effort: a server that refuses (or a script cache flushed later) leaves EVALSHA's fallback to EVAL.
    yield* Effect.ignore(lift(
      "open",
      undefined,
      () => {
        const nodes: ReadonlyArray<Redis> = isCluster(client) ? client.nodes("master") : [client]
        return Promise.all(nodes.flatMap((node) => HOT_SCRIPTS.map((script) => node.script("LOAD", script.lua))))
      },
      () => undefined
    ))
    const grace = settings.grace
    // The native backstop as a relative PEXPIRE: the time left by our Clock plus the grace. An absolute deadline from
    // an offset measured once would put entries written under another Clock than the one at open in the past (deleted
    // at once) or decades ahead.
    const nativeTtl = (expiresAt: number, now: number): string =>
      grace === undefined ? "" : String(Math.max(1, Math.ceil(expiresAt - now + grace)))

    const revisionBase = crypto.randomBytes(9).toString("base64url")
    let revisionCount = 0
    const nextRevision = () => revisionBase + (revisionCount++).toString(36)

    const pushWrite = (
      args: Array<string | Buffer>,
      key: string,
      value: Uint8Array,
      write: KeyValueStore.Write,
      now: number
    ) => {
      const x = write.expiresAt
      const tags = write.tags
      args.push(
        key,
        asBuffer(value),
        x === null ? "" : String(x),
        tags.length === 0 ? "" : JSON.stringify(tags),
        write.metadata === null ? "" : JSON.stringify(write.metadata),
        nextRevision(),
        x === null ? "" : nativeTtl(x, now),
        String(tags.length)
      )
      for (const tag of tags) args.push(tag)
    }

    const entryKey = (key: string) => entryPrefix + key

    const counters = { expirations: 0 }

    const get = (key: string, now: number) =>
      lift(
        "get",
        key,
        () => client.hmgetBuffer(entryPrefix + key, "v", "x"),
        (reply) => valueOf("get", key, reply, now)
      )

    const readEntry = (method: string, key: string, now: number) =>
      lift(method, key, () => client.hgetallBuffer(entryKey(key)), (fields) => readState(method, key, fields, now))

    const removeKeys = (
      method: string,
      keys: ReadonlyArray<string>,
      now: number,
      fence: KeyValueStore.Fence | undefined
    ) =>
      runWrite(method, keys.length === 1 ? keys[0] : undefined, scripts.remove, [String(now), ...keys], asNumber, fence)

    const modify = <A>(
      key: string,
      now: number,
      f: (current: Option.Option<KeyValueStore.Entry>) => readonly [A, KeyValueStore.Mutation],
      fence: KeyValueStore.Fence | undefined
    ): Effect.Effect<A, KeyValueStoreError> => {
      const attempt = (conflicts: number): Effect.Effect<A, KeyValueStoreError> =>
        Effect.flatMap(readEntry("modify", key, now), (state) => {
          const [result, mutation] = f(state.entry)
          if (mutation._tag === "Keep" || (mutation._tag === "Remove" && state.entry._tag === "None")) {
            // A fenced step that writes nothing still checks the lease (the entry it read was read while held).
            return fence === undefined
              ? Effect.succeed(result)
              : Effect.as(runWrite("modify", key, scripts.apply, [String(now), key, "", "k"], asNumber, fence), result)
          }
          const args: Array<string | Buffer> = [String(now), key, state.revision]
          if (mutation._tag === "Write") {
            args.push("w")
            pushWrite(args, key, mutation.value, mutation.write, now)
          } else {
            args.push("d")
          }
          return Effect.flatMap(runWrite("modify", key, scripts.apply, args, asNumber, fence), (applied) => {
            if (applied === 1) return Effect.succeed(result)
            if (conflicts >= MAX_CONFLICTS) {
              return Effect.fail(backendError("modify", key, new Error(`gave up after ${conflicts} write conflicts`)))
            }
            return attempt(conflicts + 1)
          })
        })
      return attempt(0)
    }

    type ScanMode = "k" | "v" | "n"

    // Pages through the index from `range` in bounded script calls until `limit` live entries are found or the range
    // ends; `onItems` receives each reply's items (keys, or keys and values) and its count of live entries.
    const scan = (
      method: string,
      range: KeyValueStore.KeyRange,
      now: number,
      mode: ScanMode,
      limit: number,
      budget: number,
      onItems: (items: ReadonlyArray<Buffer>, count: number) => void
    ): Effect.Effect<void, KeyValueStoreError> => {
      const [min, max] = boundsOf(range)
      let found = 0
      const step = (from: Buffer): Effect.Effect<void, KeyValueStoreError> =>
        Effect.flatMap(
          run(
            method,
            undefined,
            scripts.scan,
            [String(now), from, max, String(mode === "n" ? 0 : limit - found), String(budget), mode],
            (r) => r as ReadonlyArray<unknown>,
            true
          ),
          (reply) => {
            const done = Number(reply[0]) === 1
            const last = reply[1] as Buffer
            const count = Number(reply[2])
            found += count
            onItems(reply.slice(3) as ReadonlyArray<Buffer>, count)
            if (done || (mode !== "n" && found >= limit) || last.length === 0) return Effect.void
            return step(Buffer.concat([OPEN, last]))
          }
        )
      return limit <= 0 && mode !== "n" ? Effect.void : step(min)
    }

    const size = (now: number) => run("size", undefined, scripts.size, [String(now)], asNumber)

    const nodesOf = (): ReadonlyArray<Redis> => isCluster(client) ? client.nodes("master") : [client]
    const tagFamily = Buffer.from(prefix + "t:", "utf8")

    // Entries Redis dropped by itself were met since the last walk over the tag sets began: their tag-set members
    // (their tags went with their hashes) wait for the next one.
    let leftOvers = false

    // One step of removing expired entries: the entries removed, and whether the step met its bound.
    const expireStep = (method: string, now: number): Effect.Effect<sweeper.Slice, KeyValueStoreError> => {
      const batch = settings.sweep.batch
      return run(method, undefined, scripts.expire, [String(now), String(batch)], (r) => r as ReadonlyArray<number>)
        .pipe(Effect.map(([removed, examined, gone]) => {
          counters.expirations += removed!
          if (gone! > 0) leftOvers = true
          return { removed: removed!, full: examined! >= batch }
        }))
    }

    const expireAll = (now: number) => {
      const step = (total: number): Effect.Effect<number, KeyValueStoreError> =>
        Effect.flatMap(
          expireStep("expire", now),
          ({ full, removed }) => full ? step(total + removed) : Effect.succeed(total + removed)
        )
      return step(0)
    }

    // Removes the tag-set members left by entries Redis dropped by itself, when there were any: a walk over the tag
    // sets (SCAN for them on every node, then SSCAN each), one bounded step a slice. Members of live entries stay.
    const tagWalk = Effect.suspend(() => {
      if (!leftOvers) return Effect.void
      leftOvers = false
      const nodes = nodesOf()
      const found: Array<Buffer> = []
      let node = 0
      let scanCursor = "0"
      let tag: Buffer | undefined
      let tagCursor = "0"
      const step: Effect.Effect<sweeper.Slice, KeyValueStoreError> = Effect.suspend(() => {
        if (tag === undefined) tag = found.pop()
        if (tag !== undefined) {
          const current = tag
          return run(
            "sweep",
            undefined,
            scripts.checkTags,
            ["2", String(TAG_BATCH), String(TAG_BATCH), current, tagCursor],
            (r) => r as ReadonlyArray<unknown>,
            true
          ).pipe(Effect.map((reply): sweeper.Slice => {
            // One tag set stepped: { 1, left-overs removed, its next cursor }.
            tagCursor = (reply[2] as Buffer).toString("latin1")
            if (tagCursor === "0") tag = undefined
            return { removed: Number(reply[1]), full: true }
          }))
        }
        if (node >= nodes.length) return Effect.succeed({ removed: 0, full: false })
        return lift(
          "sweep",
          undefined,
          () => nodes[node]!.scanBuffer(scanCursor, "MATCH", escapeGlob(prefix) + "t:*", "COUNT", 1000),
          ([next, keys]): sweeper.Slice => {
            for (const key of keys) {
              if (key.length > tagFamily.length && tagFamily.compare(key, 0, tagFamily.length) === 0) {
                found.push(key.subarray(tagFamily.length))
              }
            }
            scanCursor = next.toString("latin1")
            if (scanCursor === "0") node++
            return { removed: 0, full: true }
          }
        )
      })
      return sweeper.drain(step)
    })

    // SCAN (never KEYS) each node for the store's keys and UNLINK them in batches: entries, tag sets, the index and
    // the expiry set. Lease and fence keys stay (a held lock survives `clear`, and fencing tokens never go back).
    const clear = Effect.suspend(() => {
      const pattern = escapeGlob(prefix) + "*"
      const own = Buffer.from(prefix, "utf8")
      const isEntryOrTag = (key: Buffer) => {
        if (key.length < own.length + 1 || own.compare(key, 0, own.length) !== 0) return false
        const kind = key[own.length]
        const rest = key.length - own.length
        // "e:" and "t:" families, and exactly "i" and "x"
        if ((kind === 0x65 || kind === 0x74) && rest >= 2) return key[own.length + 1] === 0x3a
        return (kind === 0x69 || kind === 0x78) && rest === 1
      }
      const sweepNode = (node: Redis) => {
        const step = (cursor: string): Effect.Effect<void, KeyValueStoreError> =>
          Effect.flatMap(
            lift("clear", undefined, () => node.scanBuffer(cursor, "MATCH", pattern, "COUNT", 1000), (r) => r),
            ([next, keys]) => {
              const ours = keys.filter(isEntryOrTag)
              const unlinked = ours.length === 0
                ? Effect.void
                : lift("clear", undefined, () => node.unlink(...ours), () => undefined)
              const nextCursor = next.toString("latin1")
              return Effect.zipRight(unlinked, nextCursor === "0" ? Effect.void : step(nextCursor))
            }
          )
        return step("0")
      }
      return Effect.forEach(nodesOf(), sweepNode, { discard: true })
    })

    // Verifies the structure the scripts keep (see `scripts.checkIndex`, `checkEntries`, `checkTags`), repairing it with
    // `fix`; damaged fields are reported, never rewritten.
    const check = (options: KeyValueStore.CheckOptions | undefined) =>
      Effect.gen(function*() {
        const fix = options?.fix === true
        const fixFlag = fix ? "1" : "0"
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        const problems: Array<readonly [key: string, problem: string]> = []
        const collect = (pairs: ReadonlyArray<unknown>) => {
          for (let i = 0; i + 1 < pairs.length; i += 2) {
            problems.push([(pairs[i] as Buffer).toString("utf8"), (pairs[i + 1] as Buffer).toString("utf8")])
          }
        }
        let from: Buffer = MIN
        for (;;) {
          const reply = yield* run(
            "check",
            undefined,
            scripts.checkIndex,
            [String(now), from, String(SCAN_BUDGET), fixFlag],
            (r) => r as ReadonlyArray<unknown>,
            true
          )
          collect(reply.slice(2))
          const last = reply[1] as Buffer
          if (Number(reply[0]) === 1 || last.length === 0) break
          from = Buffer.concat([OPEN, last])
        }
        const own = Buffer.from(prefix, "utf8")
        const entryFamily = Buffer.concat([own, Buffer.from("e:")])
        const tags: Array<Buffer> = []
        for (const node of nodesOf()) {
          let cursor = "0"
          do {
            const [next, keys] = yield* lift(
              "check",
              undefined,
              () => node.scanBuffer(cursor, "MATCH", escapeGlob(prefix) + "*", "COUNT", 1000),
              (r) => r
            )
            const entries: Array<Buffer> = []
            for (const key of keys) {
              if (key.length > entryFamily.length && entryFamily.compare(key, 0, entryFamily.length) === 0) {
                entries.push(key.subarray(entryFamily.length))
              } else if (key.length > tagFamily.length && tagFamily.compare(key, 0, tagFamily.length) === 0) {
                tags.push(key.subarray(tagFamily.length))
              }
            }
            if (entries.length > 0) {
              collect(
                yield* run(
                  "check",
                  undefined,
                  scripts.checkEntries,
                  [fixFlag, ...entries],
                  (r) => r as ReadonlyArray<unknown>,
                  true
                )
              )
            }
            cursor = next.toString("latin1")
          } while (cursor !== "0")
        }
        // Tag sets go to the script many at a time (it decodes each entry's tags once per call): `carry` holds the
        // sets still being stepped and those the last call did not reach, `next` the first set not sent yet.
        let leftOver = 0
        let carry: Array<readonly [tag: Buffer, cursor: string]> = []
        let next = 0
        while (carry.length > 0 || next < tags.length) {
          const fresh = Math.min(tags.length - next, CHECK_TAG_SETS - carry.length)
          const sent = [...carry, ...tags.slice(next, next + fresh).map((tag) => [tag, "0"] as const)]
          next += fresh
          const reply = yield* run(
            "check",
            undefined,
            scripts.checkTags,
            [fixFlag, String(TAG_BATCH), String(SCAN_BUDGET), ...sent.flat()],
            (r) => r as ReadonlyArray<unknown>,
            true
          )
          const stepped = Number(reply[0])
          leftOver += Number(reply[1])
          carry = []
          for (let i = 0; i < stepped; i++) {
            const cursor = (reply[2 + i] as Buffer).toString("latin1")
            if (cursor !== "0") carry.push([sent[i]![0], cursor])
          }
          carry.push(...sent.slice(stepped))
          collect(reply.slice(2 + stepped))
        }
        const expiredPending = yield* lift(
          "check",
          undefined,
          () => client.zcount(prefix + "x", "-inf", now),
          (n) => n
        )
        const fixed: Array<string> = []
        if (fix) {
          const counts = new Map<string, number>()
          for (const [, problem] of problems) counts.set(problem, (counts.get(problem) ?? 0) + 1)
          for (const [problem, n] of counts) {
            const repair = REPAIRS[problem]
            if (repair !== undefined) fixed.push(`${repair} (${n})`)
          }
          if (leftOver > 0) {
            fixed.push(`removed the tag-set members of entries Redis expired by itself (${leftOver})`)
          }
          if (expiredPending > 0) {
            const removed = yield* expireAll(now)
            fixed.push(`removed ${removed} expired entries`)
          }
        }
        const keys = Array.from(new Set(problems.map(([key]) => key))).sort((a, b) =>
          Buffer.compare(Buffer.from(a), Buffer.from(b))
        )
        return {
          ok: problems.length === 0,
          engine: problems.length === 0
            ? ["ok"]
            : problems.map(([key, problem]) => `${JSON.stringify(key)}: ${problem}`),
          orphanedFiles: [],
          danglingRows: keys,
          counterDrift: undefined,
          expiredPending,
          fixed
        } satisfies KeyValueStore.CheckReport
      })

    const leases = redisLeases.make(
      (method, key, script, keys, args) => lift(method, key, () => evalScript(script, keys, args, false), (r) => r),
      prefix,
      grace
    )

    const pacer = yield* sweeper.start(
      settings.sweep,
      sweeper.drain(Effect.clockWith((clock) => expireStep("sweep", clock.unsafeCurrentTimeMillis()))).pipe(
        Effect.zipRight(tagWalk)
      ),
      "RedisStore"
    )

    return KeyValueStore.make(sweeper.paced(pacer, {
      backend,
      capabilities,
      separator: settings.store.separator,
      maxKeyBytes: settings.store.maxKeyBytes,
      maxValueBytes: settings.store.maxValueBytes,
      get,
      getEntry: (key, now) => Effect.map(readEntry("getEntry", key, now), (state) => state.entry),
      set: (key, value, write, now, fence) => {
        if (write.tags.length === 0 && write.metadata === null) {
          const x = write.expiresAt
          return runWrite(
            "set",
            key,
            scripts.setSimple,
            [
              String(now),
              key,
              asBuffer(value),
              x === null ? "" : String(x),
              x === null ? "" : nativeTtl(x, now),
              nextRevision()
            ],
            done,
            fence
          )
        }
        const args: Array<string | Buffer> = [String(now)]
        pushWrite(args, key, value, write, now)
        return runWrite("set", key, scripts.set, args, done, fence)
      },
      has: (key, now) =>
        lift(
          "has",
          key,
          () => client.hmgetBuffer(entryKey(key), "c", "x"),
          (reply) => {
            const found = expiryOf("has", key, reply, now)
            return found instanceof StoreCorrupted ? found : Option.isSome(found)
          }
        ),
      remove: (key, now, fence) => Effect.map(removeKeys("remove", [key], now, fence), (n) => n > 0),
      modify,
      getMany: (keys, now) => {
        if (keys.length === 0) return Effect.succeed([])
        // One script call, the entry hashes as its keys: one command to encode and one reply to parse, where a
        // pipeline of HMGETs cost a command object, a promise and a reply each.
        const scriptKeys = [indexKey]
        for (const key of keys) scriptKeys.push(entryPrefix + key)
        return lift(
          "getMany",
          undefined,
          () => evalScript(scripts.getMany, scriptKeys, [], true),
          (reply) => {
            const fields = reply as ReadonlyArray<Buffer | null>
            if (!Array.isArray(fields) || fields.length !== keys.length * 2) {
              return backendError("getMany", undefined, new Error("unexpected reply to the getMany script"))
            }
            const out: Array<Option.Option<Uint8Array>> = new Array(keys.length)
            const pair: Array<Buffer | null> = [null, null]
            for (let i = 0; i < keys.length; i++) {
              pair[0] = fields[2 * i]!
              pair[1] = fields[2 * i + 1]!
              const value = valueOf("getMany", keys[i]!, pair, now)
              if (value instanceof StoreCorrupted) return value
              out[i] = value
            }
            return out
          }
        )
      },
      setMany: (entries, now, fence) => {
        if (entries.length === 0 && fence === undefined) return Effect.void
        let simple = true
        for (const entry of entries) {
          if (entry.write.tags.length > 0 || entry.write.metadata !== null) {
            simple = false
            break
          }
        }
        if (simple) {
          const args: Array<string | Buffer> = [String(now), nextRevision(), String(entries.length)]
          for (const { key, value, write } of entries) {
            const x = write.expiresAt
            args.push(key, asBuffer(value), x === null ? "" : String(x), x === null ? "" : nativeTtl(x, now))
          }
          return runWrite("setMany", undefined, scripts.setManySimple, args, done, fence)
        }
        const args: Array<string | Buffer> = [String(now), String(entries.length)]
        for (const entry of entries) pushWrite(args, entry.key, entry.value, entry.write, now)
        return runWrite("setMany", undefined, scripts.setMany, args, done, fence)
      },
      removeMany: (keys, now, fence) =>
        keys.length === 0 && fence === undefined ? Effect.succeed(0) : removeKeys("removeMany", keys, now, fence),
      expiresAt: (key, now) =>
        lift(
          "ttl",
          key,
          () => client.hmgetBuffer(entryKey(key), "c", "x"),
          (reply) => expiryOf("ttl", key, reply, now)
        ),
      touch: (key, expiresAt, now, fence) =>
        runWrite(
          "touch",
          key,
          scripts.touch,
          [
            String(now),
            key,
            expiresAt === null ? "" : String(expiresAt),
            expiresAt === null ? "" : nativeTtl(expiresAt, now),
            nextRevision()
          ],
          (r) => Number(r) === 1,
          fence
        ),
      scanKeys: (range, now) =>
        Effect.suspend(() => {
          const keys: Array<string> = []
          return Effect.as(
            scan("keys", range, now, "k", range.limit, SCAN_BUDGET, (items) => {
              for (const item of items) keys.push(item.toString("utf8"))
            }),
            keys
          )
        }),
      scanEntries: (range, now) =>
        Effect.suspend(() => {
          const rows: Array<readonly [string, Uint8Array]> = []
          return Effect.as(
            scan("entries", range, now, "v", range.limit, SCAN_BUDGET, (items) => {
              for (let i = 0; i + 1 < items.length; i += 2) {
                rows.push([items[i]!.toString("utf8"), owned(items[i + 1]!)])
              }
            }),
            rows
          )
        }),
      countRange: (range, now) => {
        if (range.prefix === "" && range.after === undefined) return size(now)
        return Effect.suspend(() => {
          let n = 0
          return Effect.map(
            scan("countPattern", range, now, "n", 0, COUNT_BUDGET, (_, count) => {
              n += count
            }),
            () => n
          )
        })
      },
      removeRange: (range, now) => {
        const [min, max] = boundsOf(range)
        const step = (total: number): Effect.Effect<number, KeyValueStoreError> =>
          Effect.flatMap(
            run(
              "removePattern",
              undefined,
              scripts.removeRange,
              [String(now), min, max, String(REMOVE_BATCH)],
              (r) => r as ReadonlyArray<number>
            ),
            ([done, n]) => done === 1 ? Effect.succeed(total + n!) : step(total + n!)
          )
        return step(0)
      },
      removeTag: (tag, now, range) => {
        const ranged = range === undefined ? ["0", "", "0", ""] : [
          "1",
          range.prefix,
          range.after === undefined ? "0" : "1",
          range.after ?? ""
        ]
        const step = (cursor: string, total: number): Effect.Effect<number, KeyValueStoreError> =>
          Effect.flatMap(
            run(
              "removeTag",
              undefined,
              scripts.removeTag,
              [String(now), tag, cursor, String(TAG_BATCH), ...ranged],
              (r) => r as readonly [string, number]
            ),
            ([next, n]) => next === "0" ? Effect.succeed(total + n) : step(next, total + n)
          )
        return step("0", 0)
      },
      expire: expireAll,
      clear,
      size,
      leases,
      check,
      counters: () => ({ ...counters }),
      resetCounters: () => {
        counters.expirations = 0
      }
    }))
  })

/**
 * Connects a client of the store's own: no offline queue (a command while disconnected fails at once), no automatic
 * resend of unanswered commands (a write reported failed is never replayed later), every command bounded by
 * `commandTimeout`, reconnection forever in the background. Fails with `BackendError` when the first connection does
 * not become ready within `connectTimeout`.
 */
const connect = (
  options: Options,
  settings: Settings,
  Redis: typeof IORedis.Redis
): Effect.Effect<Redis, OpenError> => {
  const connectTimeout = millisOption("connectTimeout", options.connectTimeout, DEFAULT_CONNECT_TIMEOUT, false)
  if (connectTimeout instanceof InvalidArgument) return Effect.fail(connectTimeout)
  const { db, host, password, port, url, username } = options
  if (port !== undefined && !(Number.isSafeInteger(port) && port > 0 && port < 65536)) {
    return Effect.fail(invalid("port", `expected a TCP port, got ${port}`))
  }
  if (db !== undefined && !(Number.isSafeInteger(db) && db >= 0)) {
    return Effect.fail(invalid("db", `expected a non-negative integer, got ${db}`))
  }
  const redisOptions: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: settings.commandTimeout,
    connectTimeout: Math.ceil(connectTimeout),
    retryStrategy: (attempts) => Math.min(50 * attempts, 1000),
    ...(host === undefined ? {} : { host }),
    ...(port === undefined ? {} : { port }),
    ...(db === undefined ? {} : { db }),
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password: Redacted.value(password) })
  }
  return Effect.async<Redis, OpenError>((resume) => {
    let client: Redis
    try {
      // The options object first: ioredis lets the first source of a setting win, so the fields given (and the
      // store's own settings) override what the URL says.
      client = url === undefined
        ? new Redis(redisOptions)
        : new (Redis as unknown as UrlLast)(redisOptions, typeof url === "string" ? url : Redacted.value(url))
    } catch (cause) {
      return resume(Effect.fail(
        new InvalidArgument({
          method: "open",
          argument: "url",
          reason: `not a Redis URL: ${cause instanceof Error ? cause.message : String(cause)}`
        })
      ))
    }
    // Errors reach the callers of commands; the event would only be logged by ioredis.
    client.on("error", () => {})
    let settled = false
    const fail = (cause: unknown) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      client.disconnect()
      resume(Effect.fail(new BackendError({ method: "open", backend, cause })))
    }
    // A real timer, not the Clock: a TestClock that stands still must not keep the open waiting.
    const timer = setTimeout(
      () => fail(new Error(`not connected within ${Math.ceil(connectTimeout)} ms`)),
      Math.ceil(connectTimeout) + 500
    )
    client.connect().then(() => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(Effect.succeed(client))
    }, fail)
    return Effect.sync(() => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      client.disconnect()
    })
  })
}

type UrlLast = new(options: RedisOptions, url: string) => Redis

/** QUITs the store's own client (at most a second), then drops the connection and stops reconnecting. */
const close = (client: Redis): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const done = () => {
      clearTimeout(timer)
      client.disconnect()
      resume(Effect.void)
    }
    const timer = setTimeout(done, 1000)
    client.quit().then(done, done)
  })

/**
 * Builds a store with a client of its own, connected to the server of `options` (default `127.0.0.1:6379`); the
 * client is closed (`QUIT`) when the scope closes. A server that cannot be reached fails the build with
 * `BackendError` within `connectTimeout`. The sweeper lives as long as the scope.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { RedisStore } from "effect-kv"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* RedisStore.make({ url: Redacted.make("redis://127.0.0.1:6379"), prefix: "app:" })
 *   yield* store.set("greeting", "hello", { ttl: "1 hour" })
 * }))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<KeyValueStore.Service, OpenError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = settingsOf(options, false)
    if (settings instanceof InvalidArgument) return yield* settings
    const { Redis } = yield* Driver.ioredis
    const client = yield* Effect.acquireRelease(connect(options, settings, Redis), close)
    return yield* build(client, settings, false)
  })

/**
 * Builds a store on a client (or Cluster) the application owns and closes itself; the store never closes it. Every
 * command is also bounded by `commandTimeout` on the store's side, whatever the client's own settings. On a Cluster
 * the prefix must contain a hash tag (`"{kv}:"`), otherwise the build fails with `InvalidArgument`.
 *
 * The client's settings decide what happens to a command the store gave up on: with ioredis' defaults (an offline
 * queue, resending unanswered commands after a reconnection) a write reported as failed may still be applied once the
 * server is back. The store's own client (`make`) disables both; do the same (`enableOfflineQueue: false`,
 * `autoResendUnfulfilledCommands: false`, `maxRetriesPerRequest: 0`) for the same guarantee.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Redis } from "ioredis"
 * import { RedisStore } from "effect-kv"
 *
 * const client = new Redis("redis://127.0.0.1:6379")
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* RedisStore.fromClient(client, { prefix: "app:" })
 *   yield* store.set("a", "1")
 * }))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const fromClient = (
  client: Client,
  options: ClientOptions = {}
): Effect.Effect<KeyValueStore.Service, OpenError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = settingsOf(options, isCluster(client))
    if (settings instanceof InvalidArgument) return yield* settings
    return yield* build(client, settings, true)
  })

/**
 * A layer providing a `RedisStore` with a client of its own.
 *
 * @example
 * ```ts
 * import { RedisStore } from "effect-kv"
 *
 * const StoreLive = RedisStore.layer({ url: "redis://127.0.0.1:6379", prefix: "app:" })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<KeyValueStore.KeyValueStore, OpenError> =>
  Layer.scoped(KeyValueStore.KeyValueStore, make(options))

/**
 * A layer providing a `RedisStore` on a client the application owns (see `fromClient`).
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis"
 * import { RedisStore } from "effect-kv"
 *
 * const StoreLive = RedisStore.layerClient(new Redis(), { prefix: "app:" })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  client: Client,
  options: ClientOptions = {}
): Layer.Layer<KeyValueStore.KeyValueStore, OpenError> =>
  Layer.scoped(KeyValueStore.KeyValueStore, fromClient(client, options))

/**
 * A layer reading its options from `Config` (the URL as a `Redacted` secret, for instance).
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { RedisStore } from "effect-kv"
 *
 * RedisStore.layerConfig({ url: Config.redacted("REDIS_URL"), prefix: Config.string("KV_PREFIX") })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<KeyValueStore.KeyValueStore, ConfigError.ConfigError | OpenError> =>
  Layer.scoped(KeyValueStore.KeyValueStore, Effect.flatMap(Config.unwrap(config), make))
