/**
 * Loading a backend's optional packages when a store opens. Server drivers (`ioredis`, `pg`, `mysql2`,
 * `@effect/sql-pg`, `@effect/sql-mysql2`) and `@effect/experimental` are optional peer dependencies: no module of
 * effect-kv imports them statically, so a program that uses SqliteStore or MemoryStore, through the package root or a
 * subpath, never loads them (nor needs them installed). Each backend imports its driver module with `load` in its
 * open path; a package that is not installed fails the open with `MissingDependency` naming it, and a package that is
 * installed but fails to load (a broken native build) with `BackendError`.
 */
import * as Effect from "effect/Effect"
import { BackendError, MissingDependency } from "../KeyValueStoreError.js"

/** What a backend loads: its name and method for the error, and the import itself. */
export interface Module<M> {
  readonly backend: string
  readonly method: string
  readonly load: () => Promise<M>
}

// "Cannot find package 'pg' imported from ..." (ESM), "Cannot find module 'ioredis'" (CommonJS).
const missingPattern = /Cannot find (?:package|module) '([^']+)'/

/** The package a module-not-found error names (`@scope/name` or `name`), or undefined for a file path. */
export const missingPackage = (error: unknown): string | undefined => {
  if (!(error instanceof Error)) return undefined
  const code = (error as { readonly code?: unknown }).code
  if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") return undefined
  const specifier = missingPattern.exec(error.message)?.[1]
  if (specifier === undefined || specifier.startsWith(".") || specifier.startsWith("/")) return undefined
  if (specifier.startsWith("file:") || /^[A-Za-z]:[\\/]/.test(specifier)) return undefined
  const parts = specifier.split("/")
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]
}

/**
 * Imports a backend's module when a store opens: `MissingDependency` naming the package when it is not installed,
 * `BackendError` when it is installed and fails to load.
 */
export const load = <M>(module: Module<M>): Effect.Effect<M, MissingDependency | BackendError> =>
  Effect.tryPromise({
    try: module.load,
    catch: (cause) => {
      const missing = missingPackage(cause)
      return missing === undefined
        ? new BackendError({ method: module.method, backend: module.backend, cause })
        : new MissingDependency({ method: module.method, backend: module.backend, package: missing, cause })
    }
  })

/** The implementation of the stores over SQL (`@effect/sql`, `@effect/experimental`'s `Reactivity`). */
export const sqlStore = (backend: string) => load({ backend, method: "open", load: () => import("./sql/store.js") })

/** PostgresStore's pool (`pg`, `@effect/sql-pg`). */
export const pgPool = load({ backend: "postgres", method: "open", load: () => import("./sql/pgPool.js") })

/** MysqlStore's pool (`mysql2`, `@effect/sql-mysql2`). */
export const mysqlPool = load({ backend: "mysql", method: "open", load: () => import("./sql/mysqlPool.js") })

/** RedisStore's client. */
export const ioredis = load({ backend: "redis", method: "open", load: () => import("ioredis") })

/** `@effect/experimental`'s `Persistence`, for the Persistence interop. */
export const experimentalPersistence = load({
  backend: "persistence",
  method: "open",
  load: () => import("@effect/experimental/Persistence")
})

/** `@effect/experimental`'s `RateLimiter`, for the RateLimiter interop. */
export const experimentalRateLimiter = load({
  backend: "ratelimiter",
  method: "open",
  load: () => import("@effect/experimental/RateLimiter")
})
