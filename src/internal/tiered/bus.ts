/**
 * The invalidation bus of `Tiered`: what a bus is (a way to open a connection that delivers other instances'
 * messages and publishes this instance's), and the messages it carries (the keys a write changed, a key range, or
 * "everything"), encoded as small JSON texts split to fit the bus's payload limit.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { BackendError } from "../../KeyValueStoreError.js"

/** @internal */
export const BusTypeId: unique symbol = Symbol.for("effect-kv/Tiered/Bus")

/** An open connection of a bus. */
export interface Connection {
  /** Sends one message to every instance listening on the channel (this one included). */
  readonly publish: (payload: string) => Effect.Effect<void, BackendError>
  /** Completes once the connection is lost (it never fails). */
  readonly closed: Effect.Effect<void>
}

/** A bus: opens connections (in a scope, which closes them) whose subscription is confirmed when they succeed. */
export interface Bus {
  readonly [BusTypeId]: typeof BusTypeId
  /** `"redis"` or `"postgres"`. */
  readonly name: string
  readonly channel: string
  /** Largest payload the bus carries, in UTF-8 bytes. */
  readonly maxPayloadBytes: number
  /** How often an instance sends itself a ping through the server; a ping not back by the next one is a lost bus. */
  readonly heartbeatMillis: number
  readonly connect: (onMessage: (payload: string) => void) => Effect.Effect<Connection, BackendError, Scope.Scope>
}

/** What a message tells the other instances to drop. */
export type Drop =
  | { readonly _tag: "Keys"; readonly keys: ReadonlyArray<string> }
  | { readonly _tag: "Range"; readonly prefix: string; readonly after: string | undefined }
  | { readonly _tag: "All" }

/** A decoded message: the sender's id and what to drop, or a ping (which only its sender reads). */
export type Message =
  | { readonly from: string; readonly drop: Drop; readonly ping?: undefined }
  | { readonly from: string; readonly ping: number; readonly drop?: undefined }

/** The payload of a ping. */
export const ping = (from: string, n: number): string => JSON.stringify({ i: from, p: n })

const byteLength = (text: string): number => Buffer.byteLength(text, "utf8")

/**
 * The payloads of one drop: keys are split over as many messages as the limit needs; a single key (or range) too
 * long for one message becomes "drop everything", which is always correct.
 */
export const encode = (from: string, drop: Drop, maxPayloadBytes: number): Array<string> => {
  const all = JSON.stringify({ i: from, a: 1 })
  switch (drop._tag) {
    case "All":
      return [all]
    case "Range": {
      const text = JSON.stringify({ i: from, r: [drop.prefix, drop.after ?? null] })
      return [byteLength(text) <= maxPayloadBytes ? text : all]
    }
    case "Keys": {
      const out: Array<string> = []
      const head = byteLength(JSON.stringify({ i: from, k: [] }))
      let batch: Array<string> = []
      let size = head
      for (const key of drop.keys) {
        const cost = byteLength(JSON.stringify(key)) + 1
        if (head + cost > maxPayloadBytes) return [all]
        if (size + cost > maxPayloadBytes) {
          out.push(JSON.stringify({ i: from, k: batch }))
          batch = []
          size = head
        }
        batch.push(key)
        size += cost
      }
      if (batch.length > 0) out.push(JSON.stringify({ i: from, k: batch }))
      return out
    }
  }
}

/** A payload read back; anything that is not one of ours is `undefined` (ignored). */
export const decode = (payload: string): Message | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(payload)
  } catch {
    return undefined
  }
  if (typeof parsed !== "object" || parsed === null) return undefined
  const { a, i, k, r } = parsed as { i?: unknown; k?: unknown; r?: unknown; a?: unknown }
  if (typeof i !== "string") return undefined
  const { p } = parsed as { p?: unknown }
  if (typeof p === "number") return { from: i, ping: p }
  if (a === 1) return { from: i, drop: { _tag: "All" } }
  if (Array.isArray(k) && k.every((key) => typeof key === "string")) {
    return { from: i, drop: { _tag: "Keys", keys: k as Array<string> } }
  }
  if (Array.isArray(r) && r.length === 2 && typeof r[0] === "string" && (r[1] === null || typeof r[1] === "string")) {
    return { from: i, drop: { _tag: "Range", prefix: r[0], after: r[1] ?? undefined } }
  }
  return undefined
}
