/**
 * One program, any backend: the store layer is chosen at start-up from the environment, and each backend reads its
 * own settings from `Config` with `layerConfig` (secrets as `Redacted`). The program itself only sees the
 * `KeyValueStore` service.
 *
 *   KV_BACKEND=sqlite   (default) KV_SQLITE_FILE, default .effect-kv/choosing-a-backend.db
 *   KV_BACKEND=memory
 *   KV_BACKEND=postgres KV_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test
 *   KV_BACKEND=mysql    KV_MYSQL_URL,    default mysql://root@127.0.0.1:3306/test
 *   KV_BACKEND=redis    KV_REDIS_URL,    default redis://127.0.0.1:6379
 *   KV_TABLE / KV_PREFIX: the SQL table / Redis key prefix (defaults effect_kv_example / effect-kv-example:)
 *
 * Run: npx tsx --conditions=effect-kv-source examples/choosing-a-backend.ts
 */
import { Config, Console, Effect, Layer, Option, Redacted } from "effect"
import { KeyValueStore, MemoryStore, MysqlStore, PostgresStore, RedisStore, SqliteStore } from "effect-kv"
import * as fs from "node:fs"

const url = (name: string, fallback: string) => Config.redacted(name).pipe(Config.withDefault(Redacted.make(fallback)))
const table = Config.string("KV_TABLE").pipe(Config.withDefault("effect_kv_example"))

/** The store layer `KV_BACKEND` names, each configured from its own variables. */
const StoreLive = Layer.unwrapEffect(Effect.gen(function*() {
  const backend = yield* Config.literal("sqlite", "memory", "postgres", "mysql", "redis")("KV_BACKEND").pipe(
    Config.withDefault("sqlite")
  )
  yield* Console.log(`backend: ${backend}`)
  switch (backend) {
    case "sqlite": {
      fs.mkdirSync(".effect-kv", { recursive: true })
      return SqliteStore.layerConfig({
        filename: Config.string("KV_SQLITE_FILE").pipe(Config.withDefault(".effect-kv/choosing-a-backend.db"))
      })
    }
    case "memory":
      return MemoryStore.layer()
    case "postgres":
      return PostgresStore.layerConfig({
        url: url("KV_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
        table
      })
    case "mysql":
      return MysqlStore.layerConfig({ url: url("KV_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"), table })
    case "redis":
      return RedisStore.layerConfig({
        url: url("KV_REDIS_URL", "redis://127.0.0.1:6379"),
        prefix: Config.string("KV_PREFIX").pipe(Config.withDefault("effect-kv-example:"))
      })
  }
}))

const program = Effect.gen(function*() {
  const store = yield* KeyValueStore.KeyValueStore
  yield* store.set("greeting", "hello from " + store.backend, { ttl: "1 minute", tags: ["demo"] })
  const visits = yield* store.increment("visits")
  const greeting = yield* store.getString("greeting")
  yield* Console.log(`${Option.getOrElse(greeting, () => "(none)")}; visits: ${visits}`)
  yield* Console.log(`capabilities: ${JSON.stringify(store.capabilities)}`)
  // Leave nothing behind in a shared database.
  yield* store.removeMany(["greeting", "visits"])
})

Effect.runPromise(program.pipe(Effect.provide(StoreLive))).catch((error) => {
  console.error(error)
  process.exit(1)
})
