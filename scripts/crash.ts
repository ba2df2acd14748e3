// `npm run crash [-- --rounds N] [-- --seed S]`: SIGKILL rounds during
// concurrent writes (see test/crash-harness.ts); prints the figures as JSON,
// exit code 1 when an acknowledged operation was lost.
import { parseArgs } from "node:util";
import { runCrashRounds } from "../test/crash-harness.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "100" }, seed: { type: "string" } } });
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
console.error(`${values.rounds} crash rounds, seed ${seed}`);
const report = await runCrashRounds({ rounds: Number(values.rounds), seed, progress: (line) => console.error(line) });
console.log(JSON.stringify(report, null, 2));
process.exit(report.lost === 0 && report.failures.length === 0 ? 0 : 1);
