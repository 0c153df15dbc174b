/**
 * The postgres section: PostgresStore (a `SqlStore` over `@effect/sql-pg`'s driver, `pg`) against two floors of raw
 * `pg` with named (prepared) statements: the store's own tables and statements (the floor: what the wrapper costs) and
 * the plainest key/value table (`key TEXT PRIMARY KEY, value BYTEA`: what the store's data model costs), on the
 * PostgreSQL server at `EFFECT_KV_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`), at 10K prefilled
 * entries of 256 bytes: random `get` hits, `set` of fresh keys, `setMany` of 1000 (one multi-row upsert for each).
 * Goal: `get` and `set` at least 0.7x of the floor; the ratios to the plain table are on a line of their own. Each
 * target works on tables of this run (`ekvbench_<pid>_<hex>_raw`, `_plain`, `_store` and theirs); a connection opened
 * first drops every table and function of the run's prefix when the section ends. Writes `postgres.csv`,
 * `postgres.json` and the bar chart `postgres.svg`.
 */
import * as Chart from "../chart.js"
import * as Pg from "../targets/pg.js"
import * as PostgresStore from "../targets/postgresStore.js"
import type { Section } from "./section.js"
import * as Server from "./server.js"

/** The postgres section. */
export const section: Section = Server.section({
  name: "postgres",
  server: "postgres",
  base: "ekvbench",
  setup: (base) => Pg.janitor(`${base}_`),
  targets: [
    { name: Pg.NAME, open: (base, fx) => Pg.subject(`${base}_raw`, fx) },
    { name: Pg.PLAIN_NAME, open: (base, fx) => Pg.plainSubject(`${base}_plain`, fx) },
    { name: "PostgresStore", open: (base, fx) => PostgresStore.subject(`${base}_store`, fx) }
  ],
  chart: {
    title: "PostgresStore vs raw pg",
    subtitle:
      "Entries per second, fastest trial, 256-byte values, PostgreSQL on loopback; setMany writes batches of 1000",
    series: [
      { target: Pg.NAME, label: "pg on our schema (raw floor)", color: Chart.FLOOR },
      { target: Pg.PLAIN_NAME, label: "pg on a plain key/value table", color: Chart.THIRD },
      { target: "PostgresStore", label: "PostgresStore", color: Chart.OURS }
    ]
  },
  legend: [
    "Every statement is a round trip to the server on loopback, awaited before the next (PostgresStore: yielded in the",
    "bench's Effect program); each write commits (synchronous_commit as the server has it). cpu figures count this",
    "process only, not the server's work: they measure the client's cost."
  ].join("\n")
})
