// `bun scripts/layers.ts [ROOT]`: the layers of src/ and the imports that
// break them (issue 25). Every src/**/*.ts file belongs to one layer, listed
// below from the top (what starts the process) to the bottom (what imports
// nothing of Gatehouse); a file may import its own layer and those below it.
// An import upwards is allowed only with a `// layering: <why>` comment on
// its line or the line above, and at most MAX_COMMENTED_UPWARD of them.
// Circles between files are never allowed. `import type` counts like any
// import, and so do `export … from` and `import("…")`.
//
// Prints the layers, the circles and the upward imports; exits 1 when the
// rule is broken. test/architecture.test.ts runs `layerReport` itself.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

export interface Layer {
  name: string;
  /** Files ("src/app.ts", "src/modules/*\/wiring.ts": * is any name) and folders ("src/config/"), relative to the project; the longest match places a file. */
  paths: string[];
}

/**
 * From the top down (issue 25: config/ sits above the features and builds
 * each one's plain settings at start-up; no feature imports the config).
 * Below config, the order is the one the imports really have; the reason for
 * each less obvious place is written next to it.
 */
export const LAYERS: Layer[] = [
  { name: "entry points", paths: ["src/main.ts", "src/cli/"] },
  { name: "the process", paths: ["src/server.ts", "src/workers.ts", "src/unix-socket.ts"] },
  { name: "wiring", paths: ["src/app.ts", "src/app/"] },
  { name: "config", paths: ["src/config/"] },
  // access/index.ts answers /authenticate's requests itself (a 403 in the modules' refusal shape, or an HTML page).
  { name: "HTTP", paths: ["src/modules/", "src/access/index.ts"] },
  // Signing in with an identity provider (an oidc provider) or a device makes sessions.
  { name: "sign-in", paths: ["src/sign-in/"] },
  // One file per type; some are made of features: API tokens, sessions' access tokens, the single sign-on cookie.
  { name: "providers and augmenters", paths: ["src/providers/", "src/augmenters/"] },
  {
    // Among themselves: sessions use tokens and keys, access rules use tokens' scopes, tokens use notifications.
    name: "features",
    paths: [
      "src/sessions/",
      "src/tokens/",
      "src/keys/",
      "src/sso/",
      "src/access/",
      "src/regulation/",
      "src/metrics/",
      "src/notifications/",
      "src/tls.ts",
    ],
  },
  {
    // The pipeline runs providers, which are handed the store: it sits above the store, with its plug-ins' interfaces.
    name: "the identity pipeline",
    paths: [
      "src/identity/pipeline.ts",
      "src/identity/observer.ts",
      "src/identity/result.ts",
      "src/identity/regulation-gate.ts",
      "src/identity/argon2-limit.ts",
      "src/identity/ldap.ts",
      "src/providers/provider.ts",
      "src/providers/upstream.ts",
      "src/augmenters/augmenter.ts",
    ],
  },
  { name: "store", paths: ["src/store/"] },
  // The store's rows carry the identity model's types (Scopes, Owner, ClientAddress): it sits below the store.
  { name: "identity model", paths: ["src/identity/"] },
  {
    name: "leaves",
    paths: ["src/log.ts", "src/log-writer.ts", "src/dates.ts", "src/refusal.ts", "src/secret-files.ts", "src/version.ts", "src/worker-role.ts"],
  },
];

export const MAX_COMMENTED_UPWARD = 4;
const LAYERING_COMMENT = /\/\/\s*layering:\s*\S/;

export interface Import {
  from: string;
  to: string;
  /** 1-based line of the import's first line. */
  line: number;
  /** The `// layering:` reason on that line or the one above, if any. */
  reason: string | null;
}

export interface LayerReport {
  files: string[];
  /** Files no layer lists. */
  unplaced: string[];
  imports: Import[];
  /** Sets of files that import each other, directly or through others (strongly connected components). */
  circles: string[][];
  /** Imports from a lower layer to a higher one: with a reason (allowed, up to the limit) and without. */
  upward: { commented: Import[]; uncommented: Import[] };
  layerOf(file: string): number | null;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return sourceFiles(path);
      return name.endsWith(".ts") ? [path] : [];
    });
}

// Static imports and re-exports start a line (they are top-level statements); their names may span lines.
const STATIC_IMPORT = /^(?:import|export)\s+(?:type\s+)?(?:[\w$*\s{},]+?\s+from\s+)?["']([^"']+)["']/gm;
const DYNAMIC_IMPORT = /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

/** The relative specifiers a file imports, each with the index where its statement starts. */
function specifiers(text: string): { specifier: string; index: number }[] {
  const found: { specifier: string; index: number }[] = [];
  for (const match of text.matchAll(STATIC_IMPORT)) found.push({ specifier: match[1], index: match.index! });
  for (const match of text.matchAll(DYNAMIC_IMPORT)) {
    const lineStart = text.lastIndexOf("\n", match.index!) + 1;
    const before = text.slice(lineStart, match.index!).trimStart();
    // An import( written in a comment is not one.
    if (before.startsWith("//") || before.startsWith("*") || before.startsWith("/*") || before.includes("// ")) continue;
    found.push({ specifier: match[1], index: match.index! });
  }
  return found.filter(({ specifier }) => specifier.startsWith("."));
}

function resolveImport(root: string, from: string, specifier: string): string | null {
  const base = normalize(join(dirname(join(root, from)), specifier));
  for (const candidate of [base, `${base}.ts`, join(base, "index.ts")]) {
    if (candidate.endsWith(".ts") && existsSync(candidate) && statSync(candidate).isFile()) return relative(root, candidate);
  }
  return null; // JSON, SQL, assets: not code of a layer
}

const pattern = (path: string) => new RegExp(`^${path.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]+")}$`);

export function placeOf(file: string, layers: Layer[] = LAYERS): number | null {
  let best: { layer: number; length: number } | null = null;
  layers.forEach((layer, index) => {
    for (const path of layer.paths) {
      const matches = path.endsWith("/") ? file.startsWith(path) : path.includes("*") ? pattern(path).test(file) : file === path;
      if (matches && (!best || path.length > best.length)) best = { layer: index, length: path.length };
    }
  });
  return best ? (best as { layer: number }).layer : null;
}

/** Tarjan's algorithm: the strongly connected components with more than one file, or a file importing itself. */
function findCircles(files: string[], imports: Import[]): string[][] {
  const next = new Map<string, string[]>(files.map((file) => [file, []]));
  for (const edge of imports) next.get(edge.from)?.push(edge.to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  let counter = 0;
  const visit = (file: string) => {
    index.set(file, counter);
    low.set(file, counter++);
    stack.push(file);
    onStack.add(file);
    for (const to of next.get(file) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(file, Math.min(low.get(file)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(file, Math.min(low.get(file)!, index.get(to)!));
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || next.get(file)!.includes(file)) circles.push(component.sort());
  };
  for (const file of files) if (!index.has(file)) visit(file);
  return circles;
}

/** The import graph of ROOT/src and what breaks its layers. */
export function layerReport(root = join(import.meta.dir, ".."), layers: Layer[] = LAYERS): LayerReport {
  const files = sourceFiles(join(root, "src")).map((path) => relative(root, path));
  const imports: Import[] = [];
  for (const from of files) {
    const text = readFileSync(join(root, from), "utf8");
    const lines = text.split("\n");
    for (const { specifier, index } of specifiers(text)) {
      const to = resolveImport(root, from, specifier);
      if (!to || !to.startsWith("src/")) continue;
      const line = text.slice(0, index).split("\n").length;
      const commented = [lines[line - 1], lines[line - 2]].find((text) => text !== undefined && LAYERING_COMMENT.test(text));
      imports.push({ from, to, line, reason: commented ? commented.slice(commented.indexOf("layering:") + 9).trim() : null });
    }
  }
  const layerOf = (file: string) => placeOf(file, layers);
  const upward = imports.filter((edge) => {
    const from = layerOf(edge.from);
    const to = layerOf(edge.to);
    return from !== null && to !== null && to < from;
  });
  return {
    files,
    unplaced: files.filter((file) => layerOf(file) === null),
    imports,
    circles: findCircles(files, imports),
    upward: { commented: upward.filter((edge) => edge.reason), uncommented: upward.filter((edge) => !edge.reason) },
    layerOf,
  };
}

/** Whether the report keeps the rule: no circle, every file placed, upward imports only with a reason and at most the limit. */
export function keepsLayers(report: LayerReport): boolean {
  return (
    report.circles.length === 0 &&
    report.unplaced.length === 0 &&
    report.upward.uncommented.length === 0 &&
    report.upward.commented.length <= MAX_COMMENTED_UPWARD
  );
}

if (import.meta.main) {
  const root = process.argv[2] ?? join(import.meta.dir, "..");
  const report = layerReport(root);
  const name = (file: string) => LAYERS[report.layerOf(file)!]?.name ?? "?";
  console.log(`${report.files.length} files, ${report.imports.length} imports, in ${LAYERS.length} layers (top first):`);
  LAYERS.forEach((layer, index) => console.log(`  ${index + 1}. ${layer.name}: ${layer.paths.join(" ")}`));
  for (const file of report.unplaced) console.log(`unplaced (add it to LAYERS in scripts/layers.ts): ${file}`);
  console.log(`circles: ${report.circles.length}`);
  for (const circle of report.circles) console.log(`  ${circle.join(" ⇄ ")}`);
  console.log(`upward imports: ${report.upward.uncommented.length} without a reason, ${report.upward.commented.length} with one (at most ${MAX_COMMENTED_UPWARD})`);
  for (const edge of report.upward.uncommented) console.log(`  ${edge.from}:${edge.line} (${name(edge.from)}) → ${edge.to} (${name(edge.to)})`);
  for (const edge of report.upward.commented) console.log(`  ${edge.from}:${edge.line} → ${edge.to}, layering: ${edge.reason}`);
  process.exit(keepsLayers(report) ? 0 : 1);
}
