/**
 * The PostgreSQL LISTEN/NOTIFY bus of `Tiered`: one dedicated `pg` client per bus connection, which listens on the
 * channel and sends this instance's notifications (`pg_notify`). The client does not reconnect by itself: when it
 * ends or fails the bus connection is lost, and `Tiered` opens a new one (and empties its L1).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { BackendError } from "../../KeyValueStoreError.js"
import type { Bus, Connection } from "./bus.js"
import { BusTypeId } from "./bus.js"

/** Options of the PostgreSQL bus. */
export interface PostgresBusOptions {
  readonly url: string | Redacted.Redacted<string>
  readonly channel: string
  readonly commandTimeout?: number | undefined
  readonly connectTimeout?: number | undefined
  readonly heartbeat?: number | undefined
}

interface PgClient {
  connect(): Promise<void>
  query(text: string, values?: ReadonlyArray<unknown>): Promise<unknown>
  end(): Promise<void>
  on(event: "notification", listener: (message: { channel: string; payload?: string }) => void): void
  on(event: "error" | "end", listener: (error?: Error) => void): void
  once(event: "error" | "end", listener: (error?: Error) => void): void
  off(event: "error" | "end", listener: (error?: Error) => void): void
}

// pg is imported when a bus connects: a program without a PostgreSQL bus never loads it.
const loadPgClient = async () => {
  // @ts-expect-error: pg ships no type declarations (the part used here is typed above)
  const Pg: unknown = await import("pg")
  return ((Pg as { default?: { Client: unknown } }).default?.Client ?? (Pg as { Client: unknown }).Client) as new(
    config: Record<string, unknown>
  ) => PgClient
}

const failure = (method: string, cause: unknown) => new BackendError({ method, backend: "postgres-bus", cause })

/** A channel name as a quoted SQL identifier. */
const identifier = (name: string): string => `"${name.replace(/"/g, "\"\"")}"`

/** A PostgreSQL bus on `options.channel` (at most 63 bytes: PostgreSQL's identifier limit). */
export const make = (options: PostgresBusOptions): Bus => ({
  [BusTypeId]: BusTypeId,
  name: "postgres",
  channel: options.channel,
  // NOTIFY payloads must be shorter than 8000 bytes.
  heartbeatMillis: options.heartbeat ?? 1000,
  maxPayloadBytes: 7999,
  connect: (onMessage) =>
    Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const PgClient = await loadPgClient()
          const client = new PgClient({
            connectionString: Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url,
            connectionTimeoutMillis: options.connectTimeout ?? 2000,
            query_timeout: options.commandTimeout ?? 2000,
            keepAlive: true
          })
          const state = { lost: false }
          client.on("error", () => {
            state.lost = true
          })
          client.on("end", () => {
            state.lost = true
          })
          client.on("notification", (message) => {
            if (message.channel === options.channel) onMessage(message.payload ?? "")
          })
          try {
            await client.connect()
            await client.query(`LISTEN ${identifier(options.channel)}`)
          } catch (error) {
            client.end().catch(() => {})
            throw error
          }
          return { client, state }
        },
        catch: (cause) => failure("connect", cause)
      }),
      ({ client }) => Effect.promise(() => client.end().catch(() => {}))
    ).pipe(Effect.map(({ client, state }): Connection => ({
      publish: (payload) =>
        Effect.tryPromise({
          try: () => client.query("SELECT pg_notify($1, $2)", [options.channel, payload]),
          catch: (cause) => failure("publish", cause)
        }).pipe(Effect.asVoid),
      closed: Effect.async<void>((resume) => {
        const done = () => resume(Effect.void)
        if (state.lost) return done()
        client.once("error", done)
        client.once("end", done)
        return Effect.sync(() => {
          client.off("error", done)
          client.off("end", done)
        })
      })
    })))
})
