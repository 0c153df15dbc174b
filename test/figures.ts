/**
 * Renders the reliability figures recorded by the last test run (`.figures/`, see `fixtures/figures.ts`) into the
 * README between the `reliability-figures` markers: `npm run figures` after `npm test`. Prints the table too.
 */
import * as fs from "node:fs"
import { readAll } from "./backends/fixtures/figures.js"

const start = "<!-- reliability-figures:start -->"
const end = "<!-- reliability-figures:end -->"

const figures = readAll()
if (figures.length === 0) {
  console.error("figures: none recorded; run the tests first (npm test)")
  process.exit(1)
}
const day = figures.map((f) => f.at.slice(0, 10)).sort().at(-1)
const table = [
  `Recorded by the test run of ${day} (\`npm test\`, then \`npm run figures\`).`,
  "",
  "| what is checked | backend | cases | detail |",
  "| --- | --- | ---: | --- |",
  ...figures.map((f) => `| ${f.name} | ${f.backend} | ${f.count.toLocaleString("en-US")} | ${f.detail} |`)
].join("\n")
console.log(table)

const readme = fs.readFileSync("README.md", "utf8")
const from = readme.indexOf(start)
const to = readme.indexOf(end)
if (from < 0 || to < from) {
  console.error(`figures: README.md has no ${start} ... ${end} block`)
  process.exit(1)
}
fs.writeFileSync("README.md", `${readme.slice(0, from + start.length)}\n${table}\n${readme.slice(to)}`)
