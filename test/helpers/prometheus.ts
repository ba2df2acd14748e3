// Reading Prometheus text exposition in tests: a strict parser (every sample
// belongs to a family announced by HELP and TYPE, histograms are cumulative
// and end with +Inf = _count), and Debian's `promtool check metrics` when it
// is installed (test/setup.sh installs the `prometheus` package as root).
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
  /** The value of the one sample with this name whose labels include `labels`; undefined when none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Every sample of that name whose labels include `labels`. */
  all(name: string, labels?: Record<string, string>): Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheus(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === "HELP") helps.add(meta[2]!);
      else types.set(meta[2]!, meta[3]!);
      continue;
    }
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[3] ?? "").matchAll(LABEL)) labels[key!] = value!;
    const name = match[1]!;
    const family = [name, name.replace(/_(bucket|sum|count)$/, "")].find((candidate) => types.has(candidate));
    if (!family || !helps.has(family)) throw new Error(`sample ${name} has no HELP and TYPE before it`);
    samples.push({ name, labels, value: Number(match[4]) });
  }
  const includes = (sample: Sample, labels: Record<string, string>) => Object.entries(labels).every(([k, v]) => sample.labels[k] === v);
  const all = (name: string, labels: Record<string, string> = {}) => samples.filter((s) => s.name === name && includes(s, labels));
  // Histograms: cumulative buckets ending with +Inf, which equals _count.
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const series = new Map<string, Sample[]>();
    for (const bucket of all(`${family}_bucket`)) {
      const { le, ...rest } = bucket.labels;
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), bucket]);
    }
    for (const [key, buckets] of series) {
      buckets.forEach((bucket, index) => {
        if (index > 0 && bucket.value < buckets[index - 1]!.value) throw new Error(`${family}${key}: buckets are not cumulative`);
      });
      const count = all(`${family}_count`, JSON.parse(key))[0]?.value;
      if (buckets.at(-1)!.labels.le !== "+Inf" || buckets.at(-1)!.value !== count) throw new Error(`${family}${key}: +Inf bucket is not _count`);
    }
  }
  return {
    samples,
    types,
    all,
    value(name, labels = {}) {
      const found = all(name, labels);
      if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} samples`);
      return found[0]?.value;
    },
  };
}

/** `promtool check metrics` on the text, or null when promtool is not installed. */
export function promtoolCheck(text: string): { ok: boolean; output: string } | null {
  const promtool = Bun.which("promtool");
  if (!promtool) return null;
  const result = Bun.spawnSync([promtool, "check", "metrics"], { stdin: new TextEncoder().encode(text) });
  return { ok: result.exitCode === 0, output: result.stdout.toString() + result.stderr.toString() };
}
