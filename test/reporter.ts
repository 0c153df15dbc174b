/**
 * The vitest reporter that keeps a long run readable without a terminal: it says at once how many test files will run,
 * prints a progress line every 15 seconds while no terminal shows vitest's own live view (the default reporter prints
 * a file only once all of its tests are done, minutes on a loaded machine), names each failed test as soon as it
 * fails, and ends with one summary line, "tests: N passed, N failed, N skipped in M min S s", then the failed tests.
 * It runs beside the default reporter (failure details) and the JSON one (`.vitest-report.json`, read by `.ci/run`).
 */
import * as path from "node:path"
import type { Reporter, SerializedError, TestCase, TestModule, TestRunEndReason, TestSpecification } from "vitest/node"

/** How often a run without a terminal prints a progress line. */
const PROGRESS_EVERY_MS = 15_000

const elapsed = (ms: number): string => {
  const seconds = Math.round(ms / 1000)
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`
}

export default class ProgressReporter implements Reporter {
  private started = performance.now()
  private files = 0
  private filesDone = 0
  private readonly running = new Set<string>()
  private readonly counts = { passed: 0, failed: 0, skipped: 0 }
  private readonly failures: Array<string> = []
  private timer: ReturnType<typeof setInterval> | undefined = undefined

  private print(line: string): void {
    process.stdout.write(`${line}\n`)
  }

  private nameOf(test: TestCase): string {
    return `${path.relative(process.cwd(), test.module.moduleId)} > ${test.fullName}`
  }

  onTestRunStart(specifications: ReadonlyArray<TestSpecification>): void {
    this.started = performance.now()
    this.files = new Set(specifications.map((spec) => spec.moduleId)).size
    this.print(`vitest: ${this.files} test files to run; failures are named as they happen, a summary comes at the end`)
    if (!process.stdout.isTTY) {
      this.timer = setInterval(() => this.progress(), PROGRESS_EVERY_MS)
      this.timer.unref()
    }
  }

  onTestModuleStart(module: TestModule): void {
    this.running.add(module.moduleId)
  }

  onTestModuleEnd(module: TestModule): void {
    this.running.delete(module.moduleId)
    this.filesDone++
  }

  onTestCaseResult(test: TestCase): void {
    const result = test.result()
    if (result.state === "passed") this.counts.passed++
    else if (result.state === "skipped") this.counts.skipped++
    else if (result.state === "failed") {
      this.counts.failed++
      const name = this.nameOf(test)
      this.failures.push(name)
      const reason = result.errors[0]?.message?.split("\n")[0] ?? "no error message"
      this.print(`FAILED ${name}: ${reason}`)
    }
  }

  private progress(): void {
    const { failed, passed, skipped } = this.counts
    const running = [...this.running].map((id) => path.basename(id)).sort().join(", ")
    this.print(
      `vitest, ${elapsed(performance.now() - this.started)}: ${this.filesDone}/${this.files} files done; ` +
        `tests ${passed} passed, ${failed} failed, ${skipped} skipped` + (running === "" ? "" : `; running ${running}`)
    )
  }

  onTestRunEnd(
    _modules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
    _reason: TestRunEndReason
  ): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    const { failed, passed, skipped } = this.counts
    this.print("")
    this.print(
      `tests: ${passed} passed, ${failed} failed, ${skipped} skipped in ${elapsed(performance.now() - this.started)}`
    )
    for (const name of this.failures) this.print(`  failed: ${name}`)
    if (unhandledErrors.length > 0) {
      this.print(
        `  ${unhandledErrors.length} unhandled error(s) outside the tests: see above; the run counts as failed`
      )
    }
  }
}
