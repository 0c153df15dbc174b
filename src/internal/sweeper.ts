/**
 * The background sweeper every store with expiry runs: its options (interval, bounded batch), their validation, and
 * the scoped fiber that repeats one bounded sweep on a `Schedule`, so `TestClock` drives it as well as real time.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as KeyValueStore from "../KeyValueStore.js"
import { InvalidArgument } from "../KeyValueStoreError.js"

/** @internal */
export type Options = KeyValueStore.SweepOptions

/** @internal */
export interface Settings {
  readonly interval: Duration.Duration
  readonly batch: number
}

/** @internal */
export const settings = (options: Options, defaultBatch: number): Settings | InvalidArgument => {
  const batch = options.sweepBatch ?? defaultBatch
  if (!Number.isSafeInteger(batch) || batch < 1) {
    return new InvalidArgument({ method: "open", argument: "sweepBatch", reason: "expected a positive integer" })
  }
  const interval = Duration.decodeUnknown(options.sweepInterval ?? Duration.minutes(1))
  if (Option.isNone(interval) || !Duration.isFinite(interval.value) || Duration.toMillis(interval.value) <= 0) {
    return new InvalidArgument({
      method: "open",
      argument: "sweepInterval",
      reason: "expected a positive finite duration"
    })
  }
  return { interval: interval.value, batch }
}

/**
 * Forks `sweep` every `interval` for the lifetime of the scope. A failed sweep is logged and retried next tick: the
 * entries it missed stay invisible to reads anyway.
 *
 * @internal
 */
export const start = <E>(
  interval: Duration.Duration,
  sweep: Effect.Effect<unknown, E>,
  label: string
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.forkScoped(
    sweep.pipe(
      Effect.catchAll((error) => Effect.logWarning(`effect-kv: ${label} sweep failed`, error)),
      Effect.repeat(Schedule.spaced(interval)),
      Effect.delay(interval)
    )
  ))
