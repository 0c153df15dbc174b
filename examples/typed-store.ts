/**
 * Typed stores: a `Schema.Class` value with a `Date` and a `bigint` stored in SQLite (a file in a temporary directory)
 * and read back as an instance of the class, an atomic typed `update`, a typed `DecodeError` for bytes that are not
 * a `User`, and an older schema version migrated on read. Run with
 * `npx tsx --conditions=effect-kv-source examples/typed-store.ts`.
 */
import { Codec, KeyValueStore, SqliteStore, TypedStore } from "effect-kv"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

class User extends Schema.Class<User>("User")({
  name: Schema.String,
  joined: Schema.Date,
  visits: Schema.BigInt
}) {
  get greeting(): string {
    return `${this.name}, member since ${this.joined.toISOString().slice(0, 10)}, ${this.visits} visits`
  }
}

// What version 1 of this program stored: no visit counter yet.
const UserV1 = Schema.Struct({ name: Schema.String, joined: Schema.Date })
const UserFromV1 = Schema.transform(UserV1, Schema.typeSchema(User), {
  strict: true,
  decode: (v1) => new User({ ...v1, visits: 0n }),
  encode: ({ joined, name }) => ({ joined, name })
})

class Users extends TypedStore.Tag("example/Users")<Users, User>() {}

const UsersLive = TypedStore.layer(Users, User, {
  version: 2,
  codec: Codec.msgpack,
  migrate: (version, value) => version === 1 ? Schema.decodeUnknownEither(UserFromV1)(value) : undefined
})

// A SQLite file in a fresh temporary directory, removed (after the store closes) when the program ends.
const StoreLive = Layer.unwrapScoped(
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-kv-example-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    ),
    (dir) => SqliteStore.layer({ filename: path.join(dir, "users.db") })
  )
)

const program = Effect.gen(function*() {
  const users = yield* Users
  const store = yield* KeyValueStore.KeyValueStore

  yield* users.set("user.ada", new User({ name: "Ada", joined: new Date("2015-12-10"), visits: 2n ** 60n }))
  const ada = yield* users.getOrFail("user.ada")
  yield* Console.log(`read back      : ${ada.greeting}`)
  yield* Console.log(`is a User      : ${ada instanceof User}, joined is a Date: ${ada.joined instanceof Date}`)

  const bumped = yield* users.update("user.ada", Option.map((u) => new User({ ...u, visits: u.visits + 1n })))
  yield* Console.log(`after update   : ${Option.getOrThrow(bumped).visits} visits`)

  const raw = Option.getOrThrow(yield* store.get("user.ada"))
  yield* Console.log(
    `stored bytes   : ${raw.byteLength} (envelope ${
      Buffer.from(raw.subarray(0, 3)).toString("hex")
    }: magic, msgpack, version 2)`
  )

  // Data written by version 1 of the program is migrated on read.
  yield* TypedStore.make(store, UserV1, { version: 1 }).set("user.grace", {
    name: "Grace",
    joined: new Date("1944-08-07")
  })
  yield* Console.log(`migrated v1    : ${(yield* users.getOrFail("user.grace")).greeting}`)

  // Bytes that are not a User are a typed error, not a defect and not a miss.
  yield* store.set("user.broken", "this is not a user")
  const broken = yield* Effect.flip(users.get("user.broken"))
  yield* Console.log(`broken entry   : ${broken._tag}: ${broken.message}`)

  const missing = yield* Effect.flip(users.getOrFail("user.nobody"))
  yield* Console.log(`missing entry  : ${missing._tag}: ${missing.message}`)
})

program.pipe(
  Effect.provide(UsersLive.pipe(Layer.provideMerge(StoreLive))),
  Effect.runPromise
).catch((error) => {
  console.error(error)
  process.exit(1)
})
