/**
 * The `Logging` wrapper: the contract suite passes through it unchanged (with values logged in full, so that path
 * runs on every operation); each operation logs one line with its annotations (operation, kind, backend, key,
 * outcome, duration from the TestClock); values never appear unless `values: "full"`, byte sizes with `"size"`; the
 * levels apply (and the fiber's minimum level filters); a namespace over it logs primitives; bad options are
 * `InvalidArgument` at build.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, Logging, MemoryStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Wrapper from "../../src/internal/wrapper.js"
import { suite } from "../contract/suite.js"
import * as Scripted from "./fixtures/scripted.js"

interface Line {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
  readonly hasCause: boolean
}

/** Runs `self` with a logger that records every line (and every level let through). */
const capture = <A, E, R>(self: (lines: Array<Line>) => Effect.Effect<A, E, R>) => {
  const lines: Array<Line> = []
  const recorder = Logger.make(({ annotations, cause, logLevel, message }) => {
    lines.push({
      level: logLevel._tag,
      message: Array.isArray(message) ? message.join(" ") : String(message),
      annotations: Object.fromEntries(HashMap.toEntries(annotations)),
      hasCause: cause._tag !== "Empty"
    })
  })
  return self(lines).pipe(Logger.withMinimumLogLevel(LogLevel.All), Effect.provide(Logger.add(recorder)))
}

const logged = (options?: Logging.Options) =>
  Effect.flatMap(KeyValueStore.KeyValueStore, (store) => Logging.make(store, options))

/** Every line, as text: what must never contain a value. */
const allText = (lines: ReadonlyArray<Line>) => JSON.stringify(lines)

suite(
  "MemoryStore through Logging (values logged in full)",
  Logging.layer({ level: "Info", values: "full" }).pipe(Layer.provide(MemoryStore.layer())),
  MemoryStore.capabilities
)

describe("Logging", () => {
  it.effect("logs one line per operation with its annotations and outcome", () =>
    capture((lines) =>
      Effect.gen(function*() {
        const { control, store: scripted } = Scripted.make(yield* KeyValueStore.KeyValueStore)
        // `get` takes 40 ms on the TestClock.
        const slow = Wrapper.around<"slow">(scripted, {
          operations: Object.fromEntries(Object.keys(Wrapper.operationShapes).map((k) => [k, "slow"])) as {
            readonly [K in Wrapper.Operation]: "slow"
          },
          primitives: Object.fromEntries(
            Object.entries(Wrapper.primitiveShapes).map((
              [k, shape]
            ) => [k, shape === "other" ? Wrapper.inherit : "slow"])
          ) as unknown as Wrapper.Policy<"slow">["primitives"],
          effect: (call, self) => call.method === "get" ? Effect.zipRight(Effect.sleep("40 millis"), self) : self,
          stream: (_, self) => self
        })
        const store = yield* Logging.make(slow)
        control.script({ method: "remove", mode: "fail" })
        yield* store.set("user.1", "secret-value")
        const fiber = yield* Effect.fork(store.get("user.1"))
        yield* TestClock.adjust("40 millis")
        yield* Fiber.join(fiber)
        yield* store.has("missing")
        yield* Effect.flip(store.remove("user.1"))
        yield* Effect.flip(store.getOrFail("missing"))
        yield* Stream.runDrain(store.keys())

        assert.deepStrictEqual(
          lines.map((l) => [l.message, l.level, l.annotations["kv.outcome"]]),
          [
            ["effect-kv set", "Debug", "success"],
            ["effect-kv get", "Debug", "hit"],
            ["effect-kv has", "Debug", "miss"],
            ["effect-kv remove", "Warning", "BackendError"],
            ["effect-kv getOrFail", "Debug", "miss"],
            ["effect-kv keys", "Debug", "success"]
          ]
        )
        assert.deepStrictEqual(lines[1]!.annotations, {
          "kv.operation": "get",
          "kv.kind": "operation",
          "kv.backend": "memory",
          "kv.key": "user.1",
          "kv.outcome": "hit",
          "kv.durationMillis": 40
        })
        assert.strictEqual(lines[0]!.annotations["kv.durationMillis"], 0)
        assert.isTrue(lines[3]!.hasCause, "a failure's line carries its cause")
        assert.isFalse(lines[4]!.hasCause, "a miss is not a failure")
        assert.isUndefined(lines[5]!.annotations["kv.key"], "keys() has no key")
        assert.notInclude(allText(lines), "secret-value", "values are omitted by default")
        assert.notInclude(allText(lines), "kv.valueBytes")
      })
    ).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("logs byte sizes only with values: \"size\"", () =>
    capture((lines) =>
      Effect.gen(function*() {
        const store = yield* logged({ values: "size" })
        yield* store.set("a", "héllo") // 6 bytes
        yield* store.get("a")
        yield* store.compareAndSwap("a", Option.some("héllo"), Option.some("abc"))
        yield* store.get("missing")
        assert.strictEqual(lines[0]!.annotations["kv.valueBytes"], 6)
        assert.strictEqual(lines[1]!.annotations["kv.resultBytes"], 6)
        assert.strictEqual(lines[2]!.annotations["kv.valueBytes"], 3)
        assert.isUndefined(lines[3]!.annotations["kv.resultBytes"], "a miss has no result")
        assert.notInclude(allText(lines), "héllo")
        assert.notInclude(allText(lines), "abc")
      })
    ).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("logs the values with values: \"full\" (text as it is, other bytes as base64)", () =>
    capture((lines) =>
      Effect.gen(function*() {
        const store = yield* logged({ values: "full" })
        yield* store.set("a", "héllo")
        yield* store.get("a")
        yield* store.set("b", new Uint8Array([0xff, 0x00]))
        yield* store.getEntry("b")
        assert.strictEqual(lines[0]!.annotations["kv.value"], "héllo")
        assert.strictEqual(lines[1]!.annotations["kv.result"], "héllo")
        assert.strictEqual(lines[2]!.annotations["kv.value"], "base64:/wA=")
        assert.strictEqual(lines[3]!.annotations["kv.result"], "base64:/wA=")
      })
    ).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("uses the levels given, and the fiber's minimum level filters", () =>
    capture((lines) =>
      Effect.gen(function*() {
        const { control, store: scripted } = Scripted.make(yield* KeyValueStore.KeyValueStore)
        const store = yield* Logging.make(scripted, { level: "Info", failureLevel: LogLevel.Error })
        control.script({ method: "get", mode: "fail" })
        yield* store.set("a", "1")
        yield* Effect.flip(store.get("a"))
        assert.deepStrictEqual(lines.map((l) => l.level), ["Info", "Error"])
        yield* store.set("a", "1").pipe(Logger.withMinimumLogLevel(LogLevel.Warning))
        assert.strictEqual(lines.length, 2, "an Info line under a Warning minimum is not logged")
        const quiet = yield* logged()
        yield* quiet.set("a", "1").pipe(Logger.withMinimumLogLevel(LogLevel.Info))
        assert.strictEqual(lines.length, 2, "the default level is Debug")
        const { control: quietControl, store: quietScripted } = Scripted.make(yield* KeyValueStore.KeyValueStore)
        const silent = yield* Logging.make(quietScripted, { level: "Debug", failureLevel: "Debug" })
        quietControl.script({ method: "get", mode: "fail", times: 2 })
        yield* Effect.flip(silent.get("a")).pipe(Logger.withMinimumLogLevel(LogLevel.Info))
        assert.strictEqual(lines.length, 2, "both levels below the minimum: nothing is logged")
        yield* Effect.flip(silent.get("a"))
        assert.deepStrictEqual(lines.slice(2).map((l) => [l.level, l.annotations["kv.outcome"]]), [[
          "Debug",
          "BackendError"
        ]])
      })
    ).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a namespace over it logs the primitives it calls", () =>
    capture((lines) =>
      Effect.gen(function*() {
        const ns = KeyValueStore.prefix(yield* logged(), "tenant.")
        yield* ns.set("a", "1")
        yield* ns.increment("n")
        assert.deepStrictEqual(
          lines.map((l) => [l.annotations["kv.operation"], l.annotations["kv.kind"], l.annotations["kv.key"]]),
          [["set", "primitive", "tenant.a"], ["modify", "primitive", "tenant.n"]]
        )
      })
    ).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("refuses bad options with InvalidArgument at build", () =>
    Effect.gen(function*() {
      const bad: ReadonlyArray<readonly [string, unknown]> = [
        ["level", { level: "Loud" }],
        ["level", { level: 3 }],
        ["failureLevel", { failureLevel: "warning" }],
        ["values", { values: "all" }],
        ["options", "full"]
      ]
      for (const [argument, options] of bad) {
        const error = yield* Effect.flip(logged(options as Logging.Options))
        assert.strictEqual(error._tag, "InvalidArgument", JSON.stringify(options))
        assert.strictEqual(error.argument, argument, JSON.stringify(options))
      }
      const layered = yield* Effect.flip(
        Effect.provide(
          KeyValueStore.KeyValueStore,
          Logging.layer({ values: "bytes" as never }).pipe(Layer.provide(MemoryStore.layer()))
        )
      )
      assert.strictEqual(layered._tag, "InvalidArgument")
    }).pipe(Effect.provide(MemoryStore.layer())))
})
