// The README's test command (`npm test`): the type check and the lint side by side (each a single-threaded process, the
// machine has two cores), each step announced with what it runs, a line every 15 seconds while they run, and closed
// with its outcome and duration; then the test files with vitest (arguments after `npm test --` go to vitest), whose
// reporter (test/reporter.ts) prints progress while they run and a summary at the end. Exits non-zero when any step
// fails; vitest does not run when the type check or the lint failed.
import { Buffer } from "node:buffer"
import { spawn } from "node:child_process"
import { performance } from "node:perf_hooks"
import process from "node:process"
import { clearInterval, setInterval } from "node:timers"

const say = (line) => process.stdout.write(`npm test: ${line}\n`)

const seconds = (from) => `${Math.round((performance.now() - from) / 1000)} s`

/** Runs `npm run <script>`: its output as it comes, or kept and printed at the end (for steps run side by side). */
const run = (script, args, { buffered }) =>
  new Promise((resolve) => {
    const started = performance.now()
    const child = spawn("npm", ["run", "--silent", script, ...(args.length > 0 ? ["--", ...args] : [])], {
      stdio: buffered ? ["ignore", "pipe", "pipe"] : "inherit",
      shell: process.platform === "win32"
    })
    const output = []
    if (buffered) {
      child.stdout.on("data", (chunk) => output.push(chunk))
      child.stderr.on("data", (chunk) => output.push(chunk))
    }
    child.on("error", (error) => output.push(Buffer.from(`${error.message}\n`)))
    child.on("close", (code, signal) => {
      const text = Buffer.concat(output).toString()
      if (text !== "") process.stdout.write(text.endsWith("\n") ? text : `${text}\n`)
      const ok = code === 0
      say(`${script} ${ok ? "passed" : `FAILED (${signal ?? `exit ${code}`})`} in ${seconds(started)}`)
      resolve(ok)
    })
  })

const started = performance.now()
say("typecheck (tsc --noEmit) and lint (eslint src test examples scripts) side by side, then vitest")
// A line every 15 seconds while they run: on a busy machine they take minutes and print nothing until they end.
const pending = new Set(["typecheck", "lint"])
const ticker = setInterval(() => say(`${[...pending].join(" and ")} still running (${seconds(started)})`), 15_000)
const checks = await Promise.all(
  ["typecheck", "lint"].map((script) =>
    run(script, [], { buffered: true }).then((ok) => {
      pending.delete(script)
      return ok
    })
  )
)
clearInterval(ticker)
if (!checks.every(Boolean)) {
  say("vitest not run, the type check or the lint failed")
  process.exit(1)
}
const args = process.argv.slice(2)
say(`vitest run${args.length > 0 ? ` ${args.join(" ")}` : ""}`)
const tested = await run("vitest", args, { buffered: false })
say(`${tested ? "passed" : "FAILED"} in ${seconds(started)}`)
process.exit(tested ? 0 : 1)
