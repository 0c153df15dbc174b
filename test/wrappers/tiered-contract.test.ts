/**
 * Tiered: the contract suite, the lock contract and the namespace contract over tiered stores (an L1 with a ttl cap
 * and a small bound, so eviction and the cap are exercised too) in front of a MemoryStore and a SqliteStore in a
 * temporary file.
 */
import { KeyValueStore, MemoryStore, SqliteStore, Tiered } from "effect-kv"
import { freshSqliteLayer } from "../backends/fixtures/temp.js"
import { locksSuite } from "../contract/locks.js"
import { namespaceSuite } from "../contract/namespace.js"
import { suite } from "../contract/suite.js"

const tiered = Tiered.layer({ l1: { maxEntries: 64, ttl: "10 seconds" } })
const overMemory = MemoryStore.layer().pipe(KeyValueStore.wrap(tiered))
const overSqlite = freshSqliteLayer().pipe(KeyValueStore.wrap(tiered))

suite("Tiered over MemoryStore", overMemory, MemoryStore.capabilities)
locksSuite("Tiered over MemoryStore", overMemory, MemoryStore.capabilities)
namespaceSuite("Tiered over MemoryStore", overMemory, MemoryStore.capabilities)
suite("Tiered over SqliteStore", overSqlite, SqliteStore.capabilities)
