/**
 * The read-modify-write operations of `make`, each one atomic step of the backend's `modify` primitive: `pop`, `add`,
 * `touch`, `setMetadata`, `increment`/`decrement` (decimal counters of bounded length), `compareAndSwap`, `append` and
 * `update`. Statistics count the mutation that committed, after the backend returns: a step may run more than once.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { CounterOptions, Entry, Mutation, Service, Write } from "../../KeyValueStore.js"
import type { KeyValueStoreError } from "../../KeyValueStoreError.js"
import { InvalidArgument, NotANumber, Unsupported, ValueTooLarge } from "../../KeyValueStoreError.js"
import * as validate from "../validate.js"
import {
  checkWrite,
  deferred,
  empty,
  entryWrite,
  expiryOf,
  fenced,
  fenceOf,
  isError,
  keep,
  removal,
  renamed
} from "./arguments.js"
import type { Core } from "./core.js"

const decoder = new TextDecoder("utf-8", { ignoreBOM: true })

const decimal = /^[+-]?\d+$/

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.byteLength !== b.byteLength) return false
  return Buffer.compare(a, b) === 0
}

/**
 * One read-modify-write step of `key` through the backend's `modify`: `f` decides (or returns the error refusing
 * the call; a throw from it makes the call die with the entry kept). `lock`: the operation's fence, checked by the
 * backend before `f` runs.
 */
export const modify = <A>(
  core: Core,
  method: string,
  key: string,
  f: (current: Option.Option<Entry>, now: number) => readonly [A, Mutation] | KeyValueStoreError,
  lock?: unknown
): Effect.Effect<A, KeyValueStoreError> =>
  core.keyed(method, key, (now) => {
    const fence = fenceOf(core, method, key, lock)
    if (isError(fence)) return Effect.fail(fence)
    let failure: KeyValueStoreError | undefined
    let decided: Mutation = keep
    let thrown: { readonly defect: unknown } | undefined
    return fenced(
      core.p.modify(key, now, (current) => {
        failure = undefined
        thrown = undefined
        decided = keep
        let result: readonly [A, Mutation] | KeyValueStoreError
        try {
          result = f(current, now)
        } catch (defect) {
          // A throw from the caller's code (the function of `update`): the entry is kept, the call dies with it.
          thrown = { defect }
          return [undefined as A, keep]
        }
        if ("_tag" in result) {
          failure = result
          return [undefined as A, keep]
        }
        decided = result[1]
        return result
      }, fence),
      lock
    ).pipe(
      Effect.mapError((error) => renamed(error, method)),
      Effect.flatMap((a) => {
        if (thrown !== undefined) return Effect.die(thrown.defect)
        if (failure !== undefined) return Effect.fail(failure)
        if (decided._tag === "Write") core.counters.writes++
        else if (decided._tag === "Remove") core.counters.removes++
        return Effect.succeed(a)
      })
    )
  })

const counter = (core: Core, method: string) => (key: string, delta: number | bigint = 1, options?: CounterOptions) => {
  const maxValueBytes = core.maxValueBytes
  const sign = method === "decrement" ? -1n : 1n
  const d = validate.checkCounterArgument(method, key, "delta", delta)
  if (d instanceof InvalidArgument) return Effect.fail(d)
  const optionsError = validate.checkOptions(method, key, options)
  if (optionsError) return Effect.fail(optionsError)
  const { initial: initialInput, ttl } = options ?? {}
  const initial = validate.checkCounterArgument(method, key, "initial", initialInput === undefined ? 0 : initialInput)
  if (initial instanceof InvalidArgument) return Effect.fail(initial)
  return modify(core, method, key, (current, now): readonly [bigint, Mutation] | KeyValueStoreError => {
    const expiresAt = expiryOf(core, method, key, ttl, now)
    if (isError(expiresAt)) return expiresAt
    let base = initial
    let write: Write
    if (current._tag === "Some") {
      // A counter has at most `maxCounterDigits` digits: a longer value is not one (and is not parsed, which would
      // take time quadratic in its length).
      const bytes = current.value.value
      if (bytes.byteLength > validate.limits.maxCounterDigits + 1) {
        return new NotANumber({
          method,
          key,
          reason: `the stored value is longer than a counter's ${validate.limits.maxCounterDigits} digits`
        })
      }
      const text = decoder.decode(bytes)
      if (!decimal.test(text)) return new NotANumber({ method, key })
      base = BigInt(text)
      if (!(base > -validate.counterBound && base < validate.counterBound)) {
        return new NotANumber({
          method,
          key,
          reason: `the stored value is longer than a counter's ${validate.limits.maxCounterDigits} digits`
        })
      }
      write = entryWrite(current.value)
    } else {
      write = { expiresAt, tags: [], metadata: null }
    }
    const next = base + sign * d
    if (!(next > -validate.counterBound && next < validate.counterBound)) {
      return new NotANumber({
        method,
        key,
        reason: `the result would be longer than a counter's ${validate.limits.maxCounterDigits} digits`
      })
    }
    const value = validate.encoder.encode(next.toString())
    if (value.byteLength > maxValueBytes) {
      return new ValueTooLarge({ method, key, size: value.byteLength, limit: maxValueBytes })
    }
    return [next, { _tag: "Write", value, write }]
  }, options?.fence)
}

/** The read-modify-write operations of the store of `core`. */
export const operations = (
  core: Core
): Pick<
  Service,
  "pop" | "add" | "touch" | "setMetadata" | "increment" | "decrement" | "compareAndSwap" | "append" | "update"
> => {
  const { backend, keyed, maxValueBytes, p } = core
  return {
    pop: (key, options) =>
      modify(core, "pop", key, (current) => {
        if (current._tag === "None") return [Option.none(), keep] as const
        return [Option.some(current.value.value), removal] as const
      }, options?.fence),
    add: (key, value, options) =>
      modify(core, "add", key, (current, now) => {
        const checked = checkWrite(core, "add", key, value, options, now)
        if (isError(checked)) return checked
        if (current._tag === "Some") return [false, keep] as const
        return [true, { _tag: "Write", ...checked }] as const
      }, options?.fence),
    touch: (key, ttl, options) =>
      keyed("touch", key, (now) => {
        const expiresAt = expiryOf(core, "touch", key, ttl, now)
        if (isError(expiresAt)) return Effect.fail(expiresAt)
        const lock = options?.fence
        const fence = fenceOf(core, "touch", key, lock)
        if (isError(fence)) return Effect.fail(fence)
        if (p.touch) return fenced(p.touch(key, expiresAt, now, fence), lock)
        return Effect.mapError(
          fenced(
            p.modify(key, now, (current) =>
              current._tag === "None"
                ? [false, keep] as const
                : [true, {
                  _tag: "Write",
                  value: current.value.value,
                  write: { ...entryWrite(current.value), expiresAt }
                }] as const, fence),
            lock
          ),
          (error) => renamed(error, "touch")
        )
      }),
    setMetadata: (key, metadata, options) =>
      modify(core, "setMetadata", key, (current) => {
        const checked = validate.checkMetadata("setMetadata", key, metadata, false)
        if (checked instanceof InvalidArgument) return checked
        if (!p.capabilities.metadata) return new Unsupported({ method: "setMetadata", key, backend })
        if (current._tag === "None") return [false, keep] as const
        return [true, {
          _tag: "Write",
          value: current.value.value,
          write: { ...entryWrite(current.value), metadata: checked }
        }] as const
      }, options?.fence),

    increment: deferred(counter(core, "increment")),
    decrement: deferred(counter(core, "decrement")),
    compareAndSwap: deferred((key, expected, next, options) => {
      const optionsError = validate.checkOptions("compareAndSwap", key, options)
      if (optionsError) return Effect.fail(optionsError)
      for (const [argument, option] of [["expected", expected], ["next", next]] as const) {
        if (!Option.isOption(option)) {
          return Effect.fail(
            new InvalidArgument({ method: "compareAndSwap", key, argument, reason: "expected an Option" })
          )
        }
      }
      let expectedBytes: Option.Option<Uint8Array> = Option.none()
      if (expected._tag === "Some") {
        const bytes = validate.checkValue("compareAndSwap", key, expected.value, Infinity)
        if (!(bytes instanceof Uint8Array)) return Effect.fail(bytes)
        expectedBytes = Option.some(bytes)
      }
      return modify(core, "compareAndSwap", key, (current, now) => {
        const checked = checkWrite(core, "compareAndSwap", key, Option.getOrElse(next, () => empty), options, now)
        if (isError(checked)) return checked
        const matches = current._tag === "None"
          ? expectedBytes._tag === "None"
          : expectedBytes._tag === "Some" && equalBytes(current.value.value, expectedBytes.value)
        if (!matches) return [false, keep] as const
        if (next._tag === "None") {
          return [true, current._tag === "Some" ? removal : keep] as const
        }
        return [true, { _tag: "Write", ...checked }] as const
      }, options?.fence)
    }),
    append: (key, value, options) =>
      modify(core, "append", key, (current) => {
        const bytes = validate.checkValue("append", key, value, maxValueBytes)
        if (!(bytes instanceof Uint8Array)) return bytes
        const joined = current._tag === "None" ? bytes : Buffer.concat([current.value.value, bytes])
        if (joined.byteLength > maxValueBytes) {
          return new ValueTooLarge({ method: "append", key, size: joined.byteLength, limit: maxValueBytes })
        }
        const write = current._tag === "None"
          ? { expiresAt: null, tags: [], metadata: null }
          : entryWrite(current.value)
        return [joined.byteLength, { _tag: "Write", value: joined, write }] as const
      }, options?.fence),
    update: (key, f, options) =>
      modify(core, "update", key, (current, now) => {
        if (typeof f !== "function") {
          return new InvalidArgument({
            method: "update",
            key,
            argument: "f",
            reason: `expected a function, got ${validate.show(f)}`
          })
        }
        if (options !== undefined) {
          const invalid = checkWrite(core, "update", key, empty, options, now)
          if (isError(invalid)) return invalid
        }
        const next: unknown = f(Option.map(current, (entry) => entry.value))
        if (!Option.isOption(next)) {
          return new InvalidArgument({
            method: "update",
            key,
            argument: "f",
            reason: `the function must return an Option, it returned ${validate.show(next)}`
          })
        }
        if (next._tag === "None") {
          return [Option.none(), current._tag === "Some" ? removal : keep] as const
        }
        const checked = checkWrite(core, "update", key, next.value, options, now)
        if (isError(checked)) return checked
        return [Option.some(checked.value), { _tag: "Write", ...checked }] as const
      }, options?.fence)
  }
}
