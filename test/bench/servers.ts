/**
 * The loopback servers of the redis and postgres sections: their URLs (`EFFECT_KV_REDIS_URL` and `EFFECT_KV_PG_URL`,
 * with the same defaults as the test suites), a check that fails at once with a message naming the server and the
 * variable when nothing answers on its port (instead of a client retrying forever), a time limit for each step that
 * talks to a server, and names of this run's own (tables, key prefixes), since other runs share the servers. URLs,
 * addresses and names come from the tests' runner-free `fixtures/loopback.ts`.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as net from "node:net"
import * as Loopback from "../backends/fixtures/loopback.js"

/** A server a section needs. */
export type Server = "redis" | "postgres"

/** The URL of a server: its environment variable, or the loopback default. */
export const url = (server: Server): string => Loopback.urls[server]

/** The URL of a server as the report prints it: without its password. */
export const shown = (server: Server): string => {
  const u = new URL(url(server))
  if (u.password !== "") u.password = "***"
  return u.toString()
}

/** How long a server may take to accept a connection, or to answer one step of opening or cleaning up. */
export const TIMEOUT = Duration.seconds(5)

const describe = (server: Server): string => {
  const { host, port } = Loopback.addressOf(server)
  return `${server} at ${host}:${port} (set ${Loopback.envVars[server]} to use another)`
}

/** Succeeds when something accepts a TCP connection on the server's port; fails with a readable error otherwise. */
export const reachable = (server: Server): Effect.Effect<void, Error> =>
  Effect.async<void, Error>((resume) => {
    const socket = net.connect(Loopback.addressOf(server))
    const done = (error: string | undefined) => {
      socket.destroy()
      resume(error === undefined ? Effect.void : Effect.fail(new Error(`${describe(server)} ${error}`)))
    }
    socket.setTimeout(Duration.toMillis(TIMEOUT), () => done("does not answer"))
    socket.once("connect", () => done(undefined))
    socket.once("error", (e) => done(`does not answer: ${e.message}`))
    return Effect.sync(() => socket.destroy())
  })

/** Fails `effect` with an error naming the server and `what` when it takes longer than `TIMEOUT`. */
export const within = (server: Server, what: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutFail(effect, {
    duration: TIMEOUT,
    onTimeout: () => new Error(`${describe(server)}: ${what} took longer than ${Duration.format(TIMEOUT)}`)
  })

/**
 * Runs one step that talks to the server (connecting, creating, cleaning up), failing with an error that names the
 * server and the step when the promise rejects or takes longer than `TIMEOUT`. The step is given a signal that aborts
 * when it is cut short, to close what it opened (a client left connected would keep the process alive); the step can
 * be cut short even where it opens a scoped resource (`acquireRelease` runs its acquisition uninterruptibly).
 */
export const step = <A>(
  server: Server,
  what: string,
  f: (signal: AbortSignal) => Promise<A>
): Effect.Effect<A, Error> =>
  Effect.tryPromise({
    try: f,
    catch: (cause) =>
      new Error(`${describe(server)}: ${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
        cause
      })
  }).pipe(Effect.interruptible, within(server, what))

/** A name of this run alone: `base`, the process id and random hex, a plain identifier of at most 40 characters. */
export const uniqueName = (base: string): string => Loopback.uniqueName(base, 40)
