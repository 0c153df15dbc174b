/**
 * PostgresStore on the loopback PostgreSQL server (`EFFECT_KV_PG_URL`): the contract suite (transactions included),
 * the lock contract, the model-based property test and the namespace contract, each test on a table of its own dropped
 * afterwards; then what only a real server shows (`serverCases`): keys as bytes in byte order, the setup race, foreign
 * formats, table names, the application's own transactions, two pools on one table, unreachable servers, Config and
 * the sweeper.
 */
import { PostgresStore } from "effect-kv"
import { locksSuite } from "../contract/locks.js"
import { modelSuite } from "../contract/model.js"
import { namespaceSuite } from "../contract/namespace.js"
import { suite } from "../contract/suite.js"
import { describeServer } from "./fixtures/servers.js"
import { freshLayer, serverCases } from "./fixtures/sql-servers.js"

await describeServer("postgres", "PostgresStore", () => {
  suite("PostgresStore", freshLayer("postgres"), PostgresStore.capabilities)
  locksSuite("PostgresStore", freshLayer("postgres"), PostgresStore.capabilities)
  modelSuite("PostgresStore", freshLayer("postgres"))
  namespaceSuite("PostgresStore", freshLayer("postgres"), PostgresStore.capabilities)
  serverCases("postgres")
})
