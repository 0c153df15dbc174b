/**
 * `npm run bench`: one Effect program, run once, that measures our stores against their floors and their peers in
 * twelve sections, and soaks them in a thirteenth.
 * Every section opens its targets on fresh files in a temporary directory (deleted as it goes), or under names of its
 * own on a loopback server (deleted when it ends), prefills them untimed,
 * and measures them in interleaved trials, so a target and its floor always run seconds apart; each prints a table and
 * writes a CSV and an SVG chart to `test/bench/results/`. Not part of `npm test`.
 *
 * - core (`sections/core.ts`): SqliteStore against raw better-sqlite3 (same table, pragmas and statements) and Keyv +
 *   `@keyv/sqlite` (as shipped and with WAL), MemoryStore against a bare `Map`, at 10K and 100K entries of 256 bytes:
 *   random `get` hits, `set` of fresh keys, `setMany` of 1000; ops/s, p50/p99, ratio to the floor, PASS/MISS against
 *   the goals. Writes `{sqlite,memory}.csv`, `latest.json` and the bar charts `{sqlite,memory}.svg`.
 * - memory (`sections/memory.ts`): MemoryStore against a bare `Map` (the floor), `@effect/platform`'s
 *   `KeyValueStore.layerMemory` and lru-cache, in the same trials, at 10K and 100K entries of 256 bytes: `get`, `set`,
 *   `getMany`/`setMany` of 1000 (per entry), a mixed workload by 1 and by 100 fibers, and the footprint of 100K
 *   entries (a child process per target, `--workloads=footprint` alone for it); medians of paired ratios. Writes
 *   `memory-peers.csv`, `memory-footprint.csv` and the bar chart `memory-peers.svg`.
 * - scaling (`sections/scaling.ts`): p50/p99 of `get`, `set` of a fresh key and `set` overwriting a key at 1K, 10K,
 *   100K and 1M entries, raw better-sqlite3 vs SqliteStore vs MemoryStore, with prefill times and SqliteStore's p50
 *   over raw's against the goal "<= 2x". Writes `scaling.csv` and `scaling.svg`.
 * - values (`sections/values.ts`): `get` and `set` ops/s, MB/s and p50 for values of 64 B to 64 MiB, raw (values
 *   inline) vs SqliteStore (whatever it does with large values). Writes `values.csv` and `values.svg`.
 * - batch (`sections/batch.ts`): `setMany` and `getMany` entries/s for batches of 1 to 10 000 at 100K entries, raw
 *   transactions of prepared statements vs SqliteStore. Writes `batch.csv` and `batch.svg`.
 * - eviction (`sections/eviction.ts`): what size limits cost at 100K entries, SqliteStore and MemoryStore: `get` of a
 *   hot set of 500 keys and uniform over all keys, and `set` of fresh keys, with no limit vs `lru`, `lfu` and `lrs`
 *   under a limit never reached (maxEntries 10M), and `set` of fresh keys into a full store (maxEntries 100K: every
 *   write evicts one); ops/s, p50, ratios to no limit and evictions per write (from `stats`). Writes `eviction.csv`
 *   and the bar chart `eviction.svg`.
 * - index (`sections/indexConfig.ts`): the index configuration (`SqliteStore.makeIndex`) vs SqliteStore vs raw
 *   better-sqlite3 on each one's table, at 10K and 100K entries: `get`, `set` of a fresh key, `set` overwriting a
 *   key and `setMany` of 1000; ops/s, p50 and the index/store ratio. Writes `index.csv` and the bar chart `index.svg`.
 * - fanout (`sections/fanout.ts`): four worker processes `set` distinct fresh keys for 3 seconds each, released
 *   together, on one SQLite file vs a `FanoutStore` of 8 shards; total writes/s per trial, medians and their ratio.
 *   Writes `fanout.csv` and the bar chart `fanout.svg`.
 * - redis (`sections/redis.ts`): RedisStore against raw ioredis (`GET`, `SET`, a pipeline of 1000 `SET`s) and Keyv +
 *   `@keyv/redis` on the Redis server at `EFFECT_KV_REDIS_URL` (default `redis://127.0.0.1:6379`), at 10K entries of
 *   256 bytes: random `get` hits, `set` of fresh keys, `setMany` of 1000; the core section's table, with the goals
 *   "within 1.3x of raw" and, on a line under it, "at least as fast as Keyv". Keys live under a prefix of the run,
 *   deleted by `SCAN` + `UNLINK` at the end (never a flush). Writes `redis.csv` and the bar chart `redis.svg`.
 * - postgres (`sections/postgres.ts`): PostgresStore against raw `pg` (the store's tables and statement texts from
 *   the shared schema, as prepared statements) on the PostgreSQL server at `EFFECT_KV_PG_URL` (default
 *   `postgres://postgres@127.0.0.1:5432/test`), the same workloads and size (the floor's `setMany` is the store's own
 *   multi-row upsert through `pg`); ratios, no goal. Tables of the run are dropped at the end. Writes `postgres.csv`
 *   and the bar chart `postgres.svg`.
 *   A server section whose server does not answer fails at once with a message naming the server and its variable
 *   (and so does the run: the sections before it have written their files).
 * - wrappers (`sections/wrappers.ts`): what each wrapper costs when it never acts, over MemoryStore and SqliteStore at
 *   10K entries of 256 bytes: Retry (nothing fails), Timeout (1 minute), Fallback (a MemoryStore secondary never
 *   used), TtlClamp (`{}`, and `max` 1 day, which gives `set` a ttl), LimitSize (`maxBytes` 1 GiB), Statistics,
 *   Logging (defaults: its levels are under the default minimum), ReadOnly (`get` only), Routing (one route `x.**` to
 *   a second store, the default the store under test), Prefix (`ns.`) and the README's stack of five (Statistics ∘
 *   Logging ∘ Retry ∘ Timeout ∘ TtlClamp), each built over the bare store and measured with it in the same trials:
 *   random `get` hits and `set` of fresh keys; ops/s, p50, the paired ratio to the bare store and the µs added per
 *   operation (from each trial's throughput), PASS/MISS against "an inert wrapper adds at most 0.3 µs" and "the
 *   stack within 1.2x of the bare SqliteStore on get". Writes `wrappers.csv` and the bar chart `wrappers.svg`.
 * - caching (`sections/caching.ts`): `getOrSet` on a hit and on a miss against `get` and `set` of the same store
 *   (MemoryStore, SqliteStore), and against the read-through calls of cacheable (`getOrSet`, `wrap`), bentocache
 *   (`getOrSet`, memory driver) and cachified over lru-cache, on memory, at 10K entries: medians of paired ratios to
 *   the row's base in interleaved trials; then 4 worker processes x 50 concurrent callers on one cold key of Redis
 *   (compute 50 ms), ours with `lock: true` against cacheable + `@keyv/redis` and bentocache's redis L2: computes in
 *   all per trial and the time until every caller had its value. Writes `caching.csv`, `caching-cold.csv` and the
 *   bar chart `caching.svg`. About 4 minutes (the cold-key trials start 60 processes).
 * - peers (`sections/peers.ts`): effect-kv beside the libraries a TypeScript user would pick instead, each driven as
 *   its users drive it (`targets/peers.ts`), and beside the plainest way to do the job on the engine (the floor), in
 *   three classes, each in its own interleaved trials at 10K entries (`--sizes`) of 256 bytes: embedded (SqliteStore,
 *   a `WITHOUT ROWID` key/value table on raw better-sqlite3, Keyv + `@keyv/sqlite`, unstorage fs and db0 +
 *   better-sqlite3, `@effect/platform` `KeyValueStore.layerFileSystem` when `@effect/platform-node` is installed,
 *   lmdb, `@effect/experimental` Persistence on lmdb), memory (MemoryStore, `Map`, platform `layerMemory`,
 *   lru-cache, unstorage memory, bentocache memory, Persistence memory) and redis (RedisStore, ioredis
 *   `GET`/`SET`/`MGET`/pipelined `SET`s, Keyv + `@keyv/redis`, bentocache redis L2, unstorage redis, Persistence
 *   redis; keys under a prefix of the run, deleted by `SCAN` + `UNLINK` at the end): `get` hits, `set` of fresh keys,
 *   `getMany`/`setMany` of 100 per entry where the target has a batch API; entries/s of the median trial and the
 *   medians of paired ratios to the floor and to effect-kv. Writes `peers.csv`, the README table `peers.md` and the
 *   bar charts `peers-{embedded,memory,redis}.svg`. 5 to 10 minutes (the as-shipped SQLite peers fsync every write).
 * - coldstart (`sections/coldstart.ts`): fresh processes that import, open a new SQLite file and read one key:
 *   `effect/Effect` + raw better-sqlite3 (the floor), the package root `effect-kv`, `effect-kv/SqliteStore`, and Keyv
 *   + `@keyv/sqlite`, on the package compiled file by file as it ships, in interleaved trials; medians of the paired
 *   ratios to the floor (goal: the root within 1.5x) and the modules each loads. Writes `coldstart.csv` and the bar
 *   chart `coldstart.svg`. About a minute.
 * - churn (`sections/churn.ts`): a soak of 60 seconds of 20 000 fresh keys a second with a 50 ms ttl, MemoryStore
 *   (heap used after a full GC, expired entries held) then SqliteStore (database + WAL bytes, rows), sampled every
 *   second, with a PASS/FAIL of flatness after the first seconds. Writes `churn.csv` and the line chart `churn.svg`.
 *   Two minutes; not a throughput figure.
 *
 * - fibers (`sections/fibers.ts`): 100 concurrent fibers against one on SqliteStore at 100K entries (`get`, fresh
 *   `set`, 4:1 mixed), the median of the paired throughput ratios (goal >= 0.9x).
 *
 * Flags: `--sections=core,memory,scaling,values,batch,eviction,index,fanout,redis,postgres,wrappers,caching,peers,
 * coldstart,churn,fibers` (default all), `--only=SqliteStore,better-sqlite3` (targets; backends in the eviction and
 * wrappers sections; row names and `effect-kv`, `cacheable`, `bentocache` in the caching section), `--workloads=get,set`
 * (by the names in the CSVs; `hit`, `miss` and `cold` in the caching section), `--sizes=10000` (prefilled sizes of core,
 * memory, scaling, index, redis, postgres and peers; value sizes in bytes of values) and `--quick` (a fifth of the time
 * budgets, for a smoke test).
 * Choosing sections still writes their files; a filtered or quick run prints its tables but leaves the result files
 * alone. `--redraw` measures nothing and redraws the charts of the chosen sections from their CSVs. The full run
 * takes about 21 minutes on 2 cores (the redis and postgres sections about 30 seconds each, wrappers 2 minutes,
 * caching 4 minutes, peers 5 to 10 minutes, churn 2 minutes).
 */
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Report from "./report.js"
import * as Batch from "./sections/batch.js"
import * as Caching from "./sections/caching.js"
import * as Churn from "./sections/churn.js"
import * as Coldstart from "./sections/coldstart.js"
import * as Core from "./sections/core.js"
import * as Eviction from "./sections/eviction.js"
import * as Fanout from "./sections/fanout.js"
import * as Fibers from "./sections/fibers.js"
import * as Index from "./sections/indexConfig.js"
import * as Memory from "./sections/memory.js"
import * as Peers from "./sections/peers.js"
import * as Postgres from "./sections/postgres.js"
import * as Redis from "./sections/redis.js"
import * as Scaling from "./sections/scaling.js"
import type { Options, Section } from "./sections/section.js"
import { seconds } from "./sections/section.js"
import * as Values from "./sections/values.js"
import * as Wrappers from "./sections/wrappers.js"

const SECTIONS: ReadonlyArray<Section> = [
  Core.section,
  Memory.section,
  Scaling.section,
  Values.section,
  Batch.section,
  Eviction.section,
  Index.section,
  Fanout.section,
  Redis.section,
  Postgres.section,
  Wrappers.section,
  Caching.section,
  Peers.section,
  Coldstart.section,
  Churn.section,
  Fibers.section
]

interface Args extends Options {
  readonly sections: ReadonlyArray<Section>
  readonly partial: boolean
  readonly redraw: boolean
}

const args = (argv: ReadonlyArray<string>): Args => {
  const flag = (name: string) => argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3)
  const only = flag("only")?.split(",")
  const workloads = flag("workloads")?.split(",")
  const sizes = flag("sizes")?.split(",").map(Number)
  const names = flag("sections")?.split(",") ?? SECTIONS.map((s) => s.name)
  const unknown = names.filter((name) => !SECTIONS.some((s) => s.name === name))
  if (unknown.length > 0) {
    throw new Error(`unknown section ${unknown.join(", ")}; known: ${SECTIONS.map((s) => s.name).join(", ")}`)
  }
  if (sizes?.some((n) => !Number.isInteger(n) || n < 1) === true) throw new Error(`bad --sizes: ${flag("sizes")}`)
  const quick = argv.includes("--quick")
  return {
    sections: SECTIONS.filter((s) => names.includes(s.name)),
    only,
    workloads,
    sizes,
    scale: quick ? 0.2 : 1,
    partial: quick || only !== undefined || workloads !== undefined || sizes !== undefined,
    redraw: argv.includes("--redraw")
  }
}

const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "results")

const main = Effect.gen(function*() {
  const started = performance.now()
  const loadBefore = Report.load()
  const a = yield* Effect.try(() => args(process.argv.slice(2)))
  if (a.redraw) {
    for (const file of a.sections.flatMap((section) => section.redraw(RESULTS))) {
      console.log(`wrote ${path.relative(process.cwd(), file)}`)
    }
    return
  }
  for (const section of a.sections) {
    const sectionStarted = performance.now()
    console.log(`\n=== ${section.name} ===`)
    const output = yield* section.run(a)
    console.log(`\n${output.text}\n\n${section.name}: ${seconds(sectionStarted)}s`)
    if (a.partial) continue
    const loadNow = Report.load()
    const files = output.write(RESULTS, {
      date: new Date().toISOString(),
      seconds: Number(seconds(sectionStarted)),
      loadPerCore: { before: loadBefore, after: loadNow },
      ...Report.environment()
    })
    for (const file of files) console.log(`wrote ${path.relative(process.cwd(), file)}`)
  }
  const loadAfter = Report.load()
  console.log(`\nload per core (1-minute average): ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`)
  if (Math.max(loadBefore, loadAfter) > 0.5) console.log("warning: the machine was busy; absolute figures are low")
  console.log(`bench time: ${seconds(started)}s`)
  if (a.partial) console.log("partial run: result files left alone")
})

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
