/**
 * What a store over SQL (`SqlStore`, `PostgresStore`, `MysqlStore`) can do, on every dialect: apart from the store's
 * implementation (`store.ts`), so that the backends' modules export it without loading `@effect/sql` and the drivers,
 * which they import when a store opens.
 */
import type * as KeyValueStore from "../../KeyValueStore.js"

/** @internal */
export const capabilities: KeyValueStore.Capabilities = {
  persistent: true,
  expiry: true,
  eviction: false,
  crossProcess: true,
  orderedKeys: true,
  enumeration: true,
  tags: true,
  metadata: true,
  transactions: true,
  locks: true,
  check: false,
  volume: false,
  fencedWrites: true
}
