/**
 * The options of `getOrSet`, checked once before anything runs: every duration, the lease options, the write options
 * (ttl, tags, metadata) and the policies, each field read once. A bad option is an `InvalidArgument` naming it.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import type { GetOrSetOptions, Metadata, StampedeOptions } from "../../KeyValueStore.js"
import { InvalidArgument } from "../../KeyValueStoreError.js"
import * as validate from "../validate.js"

/** How a miss is guarded across processes (`lock`), with the defaults filled in. */
export interface LeaseSettings {
  /** Milliseconds. */
  readonly ttl: number
  /** Milliseconds; `Infinity` waits forever. */
  readonly timeout: number
  readonly onTimeout: "compute" | "fail"
}

/** The checked options of one call. */
export interface Settings {
  /** The logical time to live in milliseconds (`undefined`: no expiry). */
  readonly ttl: number | undefined
  readonly tags: ReadonlyArray<string> | undefined
  readonly metadata: Metadata | undefined
  readonly fence: GetOrSetOptions["fence"]
  /** `staleWhileRevalidate` in milliseconds (0: none). */
  readonly swr: number
  /** `grace` in milliseconds (0: none). */
  readonly grace: number
  /** How long an entry is kept past its ttl: `max(swr, grace)` (0: the entry lives exactly its ttl). */
  readonly window: number
  readonly softTimeout: number | undefined
  readonly hardTimeout: number | undefined
  readonly lock: LeaseSettings | undefined
  readonly onReadFailure: "fail" | "compute"
}

/** Lease length of `lock` when not given. */
export const DEFAULT_LEASE_TTL = 30_000
/** How long a caller waits for another process's computation when `lock.timeout` is not given. */
export const DEFAULT_LEASE_TIMEOUT = 10_000

/** The settings of a call without options. */
export const defaults: Settings = {
  ttl: undefined,
  tags: undefined,
  metadata: undefined,
  fence: undefined,
  swr: 0,
  grace: 0,
  window: 0,
  softTimeout: undefined,
  hardTimeout: undefined,
  lock: undefined,
  onReadFailure: "fail"
}

const method = "getOrSet"

// The settings of options objects seen before, with the field values they were computed from: a call with the same
// object whose fields are all the same values (by identity) reuses them (options are usually one constant object,
// and parsing duration strings on every hit would cost more than the hit itself). Options carrying tags or metadata
// (objects that can change in place) are checked on every call.
interface Cached {
  readonly options: GetOrSetOptions
  readonly lockTtl: unknown
  readonly lockTimeout: unknown
  readonly lockOnTimeout: unknown
  readonly settings: Settings
}
const cache = new WeakMap<object, Cached>()

const lockField = (lock: unknown, field: "ttl" | "timeout" | "onTimeout"): unknown =>
  typeof lock === "object" && lock !== null ? (lock as StampedeOptions)[field] : undefined

/** The settings of `options`, or the `InvalidArgument` of the first bad field. */
export const of = (key: string, options: GetOrSetOptions | undefined): Settings | InvalidArgument => {
  if (options === undefined) return defaults
  const optionsError = validate.checkOptions(method, key, options)
  if (optionsError) return optionsError
  // Each field is read once: a snapshot, compared with the cached one and parsed from.
  const snapshot: GetOrSetOptions = {
    fence: options.fence,
    grace: options.grace,
    hardTimeout: options.hardTimeout,
    lock: options.lock,
    metadata: options.metadata,
    onReadFailure: options.onReadFailure,
    softTimeout: options.softTimeout,
    staleWhileRevalidate: options.staleWhileRevalidate,
    tags: options.tags,
    ttl: options.ttl
  }
  const cacheable = snapshot.tags === undefined && snapshot.metadata === undefined
  const lock = snapshot.lock
  const lockTtl = lockField(lock, "ttl")
  const lockTimeout = lockField(lock, "timeout")
  const lockOnTimeout = lockField(lock, "onTimeout")
  if (cacheable) {
    const cached = cache.get(options)
    if (
      cached !== undefined &&
      cached.options.ttl === snapshot.ttl &&
      cached.options.staleWhileRevalidate === snapshot.staleWhileRevalidate &&
      cached.options.grace === snapshot.grace &&
      cached.options.softTimeout === snapshot.softTimeout &&
      cached.options.hardTimeout === snapshot.hardTimeout &&
      cached.options.lock === lock &&
      cached.options.onReadFailure === snapshot.onReadFailure &&
      cached.options.fence === snapshot.fence &&
      cached.lockTtl === lockTtl &&
      cached.lockTimeout === lockTimeout &&
      cached.lockOnTimeout === lockOnTimeout
    ) return cached.settings
  }
  const settings = parse(key, snapshot, lockTtl, lockTimeout, lockOnTimeout)
  if (cacheable && !("_tag" in settings)) {
    cache.set(options, { options: snapshot, lockTtl, lockTimeout, lockOnTimeout, settings })
  }
  return settings
}

const parse = (
  key: string,
  options: GetOrSetOptions,
  leaseInput: unknown,
  timeoutInput: unknown,
  onTimeoutInput: unknown
): Settings | InvalidArgument => {
  const invalid = (argument: string, reason: string) => new InvalidArgument({ method, key, argument, reason })
  const {
    fence,
    grace: graceInput,
    hardTimeout: hardInput,
    lock: lockInput,
    metadata: metadataInput,
    onReadFailure: onReadFailureInput,
    softTimeout: softInput,
    staleWhileRevalidate: swrInput,
    tags: tagsInput,
    ttl: ttlInput
  } = options

  // A duration in milliseconds, `undefined` when absent, or the reason it is refused.
  const duration = (
    input: Duration.DurationInput | undefined,
    allow: { readonly zero: boolean; readonly infinite: boolean }
  ): number | undefined | string => input === undefined ? undefined : validate.durationOf(input, allow)

  const ttlMillis = duration(ttlInput, { zero: false, infinite: true })
  if (typeof ttlMillis === "string") return invalid("ttl", ttlMillis)
  const ttl = ttlMillis === Infinity ? undefined : ttlMillis

  const swr = duration(swrInput, { zero: true, infinite: false })
  if (typeof swr === "string") return invalid("staleWhileRevalidate", swr)
  const grace = duration(graceInput, { zero: true, infinite: false })
  if (typeof grace === "string") return invalid("grace", grace)
  const softTimeout = duration(softInput, { zero: false, infinite: false })
  if (typeof softTimeout === "string") return invalid("softTimeout", softTimeout)
  const hardTimeout = duration(hardInput, { zero: false, infinite: false })
  if (typeof hardTimeout === "string") return invalid("hardTimeout", hardTimeout)

  const window = Math.max(swr ?? 0, grace ?? 0)
  if (window > 0) {
    if (ttl === undefined) {
      return invalid(
        swr ? "staleWhileRevalidate" : "grace",
        "a stale value needs an expiry: give a finite ttl with staleWhileRevalidate or grace"
      )
    }
    if (ttl + window > validate.limits.maxDurationMillis) {
      return invalid("ttl", "the ttl plus max(staleWhileRevalidate, grace) is more than 100 years")
    }
  }

  let tags: ReadonlyArray<string> | undefined = undefined
  if (tagsInput !== undefined) {
    const checked = validate.checkTags(method, key, tagsInput)
    if (checked instanceof InvalidArgument) return checked
    tags = checked
  }
  let metadata: Metadata | undefined = undefined
  if (metadataInput !== undefined) {
    const checked = validate.checkMetadata(method, key, metadataInput)
    if (checked instanceof InvalidArgument) return checked
    metadata = checked ?? undefined
  }

  let onReadFailure: "fail" | "compute" = "fail"
  if (onReadFailureInput !== undefined) {
    if (onReadFailureInput !== "fail" && onReadFailureInput !== "compute") {
      return invalid("onReadFailure", `expected "fail" or "compute", got ${validate.show(onReadFailureInput)}`)
    }
    onReadFailure = onReadFailureInput
  }

  let lock: LeaseSettings | undefined = undefined
  if (lockInput === true) {
    lock = { ttl: DEFAULT_LEASE_TTL, timeout: DEFAULT_LEASE_TIMEOUT, onTimeout: "compute" }
  } else if (lockInput !== undefined && lockInput !== false) {
    const lockError = validate.checkOptions(method, key, lockInput, "lock")
    if (lockError) return lockError
    if (typeof lockInput !== "object") return invalid("lock", `expected a boolean or an object`)
    const leaseTtl = duration(leaseInput as Duration.DurationInput | undefined, { zero: false, infinite: false })
    if (typeof leaseTtl === "string") return invalid("lock.ttl", leaseTtl)
    const timeout = duration(timeoutInput as Duration.DurationInput | undefined, { zero: true, infinite: true })
    if (typeof timeout === "string") return invalid("lock.timeout", timeout)
    if (onTimeoutInput !== undefined && onTimeoutInput !== "compute" && onTimeoutInput !== "fail") {
      return invalid("lock.onTimeout", `expected "compute" or "fail", got ${validate.show(onTimeoutInput)}`)
    }
    lock = {
      ttl: leaseTtl === undefined ? DEFAULT_LEASE_TTL : Math.max(1, Math.ceil(leaseTtl)),
      timeout: timeout ?? DEFAULT_LEASE_TIMEOUT,
      onTimeout: (onTimeoutInput as "compute" | "fail" | undefined) ?? "compute"
    }
  }

  return {
    ttl,
    tags,
    metadata,
    fence,
    swr: swr ?? 0,
    grace: grace ?? 0,
    window,
    softTimeout,
    hardTimeout,
    lock,
    onReadFailure
  }
}
