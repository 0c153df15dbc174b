/**
 * MysqlStore on the loopback MariaDB/MySQL server (`EFFECT_KV_MYSQL_URL`): the contract suite (transactions included),
 * the lock contract, the model-based property test and the namespace contract, each test on a table of its own dropped
 * afterwards; then what only a real server shows (`serverCases`): keys as bytes in byte order, the setup race, foreign
 * formats, table names, the application's own transactions, two pools on one table, unreachable servers, Config and
 * the sweeper.
 */
import { MysqlStore } from "effect-kv"
import { locksSuite } from "../contract/locks.js"
import { modelSuite } from "../contract/model.js"
import { namespaceSuite } from "../contract/namespace.js"
import { suite } from "../contract/suite.js"
import { describeServer } from "./fixtures/servers.js"
import { freshLayer, serverCases } from "./fixtures/sql-servers.js"

await describeServer("mysql", "MysqlStore", () => {
  suite("MysqlStore", freshLayer("mysql"), MysqlStore.capabilities)
  locksSuite("MysqlStore", freshLayer("mysql"), MysqlStore.capabilities)
  modelSuite("MysqlStore", freshLayer("mysql"))
  namespaceSuite("MysqlStore", freshLayer("mysql"), MysqlStore.capabilities)
  serverCases("mysql")
})
