// `npm run fuzz [-- --count N] [-- --seed S] [-- --path P]`: fuzzes a real
// Gatehouse process (see test/fuzz-harness.ts) and prints the figures as JSON.
// Exit code 1 on any failure, with the seed and path that replay it.
import { parseArgs } from "node:util";
import { runFuzz } from "../test/fuzz-harness.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "1000000" },
    seed: { type: "string" },
    path: { type: "string" },
    batch: { type: "string", default: "8" },
    "time-bound": { type: "string", default: "5000" },
    "max-rss-growth": { type: "string", default: "10" },
  },
});
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
console.error(`fuzzing ${values.count} inputs, seed ${seed}`);
const report = await runFuzz({
  count: Number(values.count),
  seed,
  path: values.path,
  batch: Number(values.batch),
  timeBoundMs: Number(values["time-bound"]),
  // RSS after warm-up is only meaningful over a long run.
  maxRssGrowthPercent: Number(values.count) >= 100_000 ? Number(values["max-rss-growth"]) : undefined,
  progress: (line) => console.error(line),
});
console.log(JSON.stringify(report, null, 2));
process.exit(report.failure ? 1 : 0);
