/**
 * The Redis pub/sub bus of `Tiered`: two dedicated ioredis connections per bus connection (a subscriber, which Redis
 * allows nothing else on, and a publisher), neither of which reconnects by itself: when either is lost the bus
 * connection is lost, and `Tiered` opens a new one (and empties its L1, since messages may have been missed).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as IORedis from "ioredis"
import type { Redis, RedisOptions } from "ioredis"
import { BackendError } from "../../KeyValueStoreError.js"
import type { Bus, Connection } from "./bus.js"
import { BusTypeId } from "./bus.js"

/** Options of the Redis bus. */
export interface RedisBusOptions {
  readonly url?: string | Redacted.Redacted<string> | undefined
  readonly channel: string
  readonly redis?: RedisOptions | undefined
  readonly commandTimeout?: number | undefined
  readonly connectTimeout?: number | undefined
  readonly heartbeat?: number | undefined
}

const failure = (method: string, cause: unknown) => new BackendError({ method, backend: "redis-bus", cause })

// ioredis is imported when a bus connects: a program without a Redis bus never loads it.
const open = (Redis: typeof IORedis.Redis, options: RedisBusOptions): Redis => {
  const settings: RedisOptions = {
    ...options.redis,
    lazyConnect: true,
    retryStrategy: () => null,
    reconnectOnError: () => false,
    autoResubscribe: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: options.connectTimeout ?? 2000,
    commandTimeout: options.commandTimeout ?? 2000
  }
  const url = options.url === undefined ? undefined : Redacted.isRedacted(options.url)
    ? Redacted.value(options.url)
    : options.url
  const client = url === undefined ? new Redis(settings) : new Redis(url, settings)
  // Errors reach the callers of commands and `closed`; the event would only be logged by ioredis.
  client.on("error", () => {})
  return client
}

/** A Redis bus on `options.channel`. */
export const make = (options: RedisBusOptions): Bus => ({
  [BusTypeId]: BusTypeId,
  name: "redis",
  channel: options.channel,
  heartbeatMillis: options.heartbeat ?? 1000,
  maxPayloadBytes: 512 * 1024,
  connect: (onMessage) =>
    Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const { Redis } = await import("ioredis")
          const subscriber = open(Redis, options)
          const publisher = open(Redis, options)
          const clients = { subscriber, publisher }
          try {
            subscriber.on("message", (channel: string, message: string) => {
              if (channel === options.channel) onMessage(message)
            })
            await Promise.all([subscriber.connect(), publisher.connect()])
            await subscriber.subscribe(options.channel)
            return clients
          } catch (error) {
            subscriber.disconnect()
            publisher.disconnect()
            throw error
          }
        },
        catch: (cause) => failure("connect", cause)
      }),
      ({ publisher, subscriber }) =>
        Effect.sync(() => {
          subscriber.disconnect()
          publisher.disconnect()
        })
    ).pipe(Effect.map(({ publisher, subscriber }): Connection => ({
      publish: (payload) =>
        Effect.tryPromise({
          try: () => publisher.publish(options.channel, payload),
          catch: (cause) => failure("publish", cause)
        }).pipe(Effect.asVoid),
      closed: Effect.async<void>((resume) => {
        const done = () => resume(Effect.void)
        if (subscriber.status === "end" || publisher.status === "end") return done()
        subscriber.once("end", done)
        publisher.once("end", done)
        subscriber.once("close", done)
        publisher.once("close", done)
        return Effect.sync(() => {
          subscriber.off("end", done)
          publisher.off("end", done)
          subscriber.off("close", done)
          publisher.off("close", done)
        })
      })
    })))
})
