/**
 * Routing: the contract suite, the lock contract and the namespace contract over routers whose routes split the suite's keys over several
 * stores (users, caches and logs each to a store of their own, everything else to the default store), on MemoryStores
 * and on SqliteStores in temporary files.
 */
import { MemoryStore, Routing, SqliteStore } from "effect-kv"
import { freshSqliteLayer } from "../backends/fixtures/temp.js"
import { locksSuite } from "../contract/locks.js"
import { namespaceSuite } from "../contract/namespace.js"
import { suite } from "../contract/suite.js"

const overMemory = Routing.layer({
  routes: [["users.**", MemoryStore.layer()], ["cache.*", MemoryStore.layer()], ["log.*", MemoryStore.layer()]],
  default: MemoryStore.layer()
})

const overSqlite = Routing.layer({
  routes: [["users.**", freshSqliteLayer()], ["log.*", freshSqliteLayer()]],
  default: freshSqliteLayer()
})

suite("Routing over MemoryStores", overMemory, MemoryStore.capabilities)
locksSuite("Routing over MemoryStores", overMemory, MemoryStore.capabilities)
namespaceSuite("Routing over MemoryStores", overMemory, MemoryStore.capabilities)
suite("Routing over SqliteStores", overSqlite, SqliteStore.capabilities)
