// `npm run bench`: installs the peer libraries the bench measures effect-kv against into test/bench/peers (their own
// package.json and lockfile, outside the package's install: several build native addons), links them where the bench
// resolves them (test/bench/node_modules), type-checks the bench, then runs it (arguments after `npm run bench --` go
// to test/bench/run.ts, e.g. `--sections=memory,redis`).
import { spawnSync } from "node:child_process"
import { existsSync, lstatSync, rmSync, symlinkSync } from "node:fs"
import process from "node:process"

const step = (what, command, args) => {
  process.stdout.write(`bench: ${what}\n`)
  const result = spawnSync(command, args, { stdio: "inherit", shell: process.platform === "win32" })
  if (result.status !== 0) {
    process.stdout.write(`bench: ${what} FAILED (${result.signal ?? `exit ${result.status}`})\n`)
    process.exit(result.status ?? 1)
  }
}

step("installing the peers (test/bench/peers, from its lockfile)", "npm", [
  "install",
  "--prefix",
  "test/bench/peers",
  "--no-audit",
  "--no-fund"
])
// Bench sources import the peers by name: Node resolves them through test/bench/node_modules, a link to the peers'.
// Not a package.json in test/bench itself, which would hide the repository's own from the bench ("effect-kv" would no
// longer resolve to this package).
const link = "test/bench/node_modules"
if (!existsSync(link) || !lstatSync(link).isSymbolicLink()) {
  rmSync(link, { recursive: true, force: true })
  symlinkSync("peers/node_modules", link, "dir")
}
step("type-checking the bench (tsc -p test/bench)", "npx", ["tsc", "-p", "test/bench/tsconfig.json", "--noEmit"])
step("running", "npx", ["tsx", "--conditions=effect-kv-source", "test/bench/run.ts", ...process.argv.slice(2)])
