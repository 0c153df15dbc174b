/**
 * effect-kv: an Effect-native key-value store. One `KeyValueStore` service, many backends, typed errors end to end.
 *
 * @since 0.1.0
 */

/**
 * The service tag, its shape and `make(primitives)`.
 *
 * @since 0.1.0
 */
export * as KeyValueStore from "./KeyValueStore.js"

/**
 * The typed error family.
 *
 * @since 0.1.0
 */
export * as KeyValueStoreError from "./KeyValueStoreError.js"

/**
 * The in-memory backend (tests, the property-test model).
 *
 * @since 0.1.0
 */
export * as MemoryStore from "./backends/MemoryStore.js"
