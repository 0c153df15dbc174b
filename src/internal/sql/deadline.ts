/**
 * The failure of a deadline of the server backends' own connection pools (`sql/pool.ts`): a statement whose answer did
 * not come within the command timeout (its connection is discarded), a connection that could not be had within the
 * connect timeout, or a statement the server itself stopped at one of the session's time limits (PostgreSQL's
 * `statement_timeout` and `lock_timeout`, MySQL's `innodb_lock_wait_timeout` and statement time limits). The store maps
 * it to the public `Timeout` error, naming the operation's method and key (`sqlSchema.toError`).
 *
 * @internal
 */

/** @internal */
export class DeadlineExceeded extends Error {
  constructor(
    /** What did not come in time. */
    readonly what: "answer" | "connection",
    /** The time limit, in milliseconds. */
    readonly millis: number,
    options?: { readonly cause?: unknown }
  ) {
    super(
      what === "answer" ? `no answer within ${millis} ms` : `no connection within ${millis} ms`,
      options?.cause === undefined ? undefined : { cause: options.cause }
    )
    this.name = "DeadlineExceeded"
  }
}

/**
 * The deadline failure on the chain of causes of `cause` (an `SqlError` around a driver's error, say), if any.
 *
 * @internal
 */
export const find = (cause: unknown): DeadlineExceeded | undefined => {
  let current = cause
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    if (current instanceof DeadlineExceeded) return current
    current = (current as { readonly cause?: unknown }).cause
  }
  return undefined
}
