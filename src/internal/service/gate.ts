/**
 * The transaction gate of `make`: a store whose primitives come with a `gate` (transaction regions) runs every
 * primitive that touches the engine behind it, so a fiber outside an open region waits for the region to end. A
 * primitive set already behind its gate (`internal/gated.ts`: one `make` guarded, or a wrapper's mapped from one) is
 * used as it is: a call guarded twice would wait for its own region.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { Primitives } from "../../KeyValueStore.js"
import type { KeyValueStoreError } from "../../KeyValueStoreError.js"
import * as gated from "../gated.js"
import * as leases from "../leases.js"
import type * as regions from "../regions.js"

// The primitives that `make` runs behind a gate: every one that touches the engine.
const gatedEffects = ["clear", "volume"] as const
const gatedFunctions = [
  "get",
  "getEntry",
  "set",
  "remove",
  "modify",
  "expire",
  "size",
  "has",
  "getMany",
  "setMany",
  "removeMany",
  "expiresAt",
  "touch",
  "scanKeys",
  "scanEntries",
  "countRange",
  "removeRange",
  "removeTag",
  "check"
] as const

const guarded = (p: Primitives, gate: regions.Gate): Primitives => {
  const out: Record<string, unknown> = { ...p }
  for (const name of gatedEffects) {
    const effect = p[name]
    if (effect !== undefined) out[name] = gate.guard(effect)
  }
  for (const name of gatedFunctions) {
    const f = p[name] as ((...args: Array<unknown>) => Effect.Effect<unknown, KeyValueStoreError>) | undefined
    if (f !== undefined) out[name] = (...args: Array<unknown>) => gate.guard(Effect.suspend(() => f(...args)))
  }
  if (p.leases !== undefined) out.leases = leases.guarded(p.leases, gate)
  const result = out as unknown as Primitives
  gated.mark(result)
  return result
}

/** The primitives `make` builds on: `primitives` behind their gate, when they have one and are not behind it yet. */
export const behind = (primitives: Primitives): Primitives => {
  const gate = primitives.gate
  return gate === undefined || gated.isBehindGate(primitives) ? primitives : guarded(primitives, gate)
}
