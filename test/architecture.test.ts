// The layers of src/ (issue 25): scripts/layers.ts lists them; here its
// report must show no circle between files and no import upwards but the few
// that say why (`// layering: <why>`).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { keepsLayers, layerReport, MAX_COMMENTED_UPWARD, type Import } from "../scripts/layers.ts";

const shown = (edges: Import[]) => edges.map((edge) => `${edge.from}:${edge.line} → ${edge.to}`);

describe("src/", () => {
  const report = layerReport();

  test("every file has a layer (LAYERS in scripts/layers.ts)", () => {
    expect(report.unplaced).toEqual([]);
  });

  test("no circle between files", () => {
    expect(report.circles).toEqual([]);
  });

  test("no import from a lower layer to a higher one without a `// layering:` reason", () => {
    expect(shown(report.upward.uncommented)).toEqual([]);
  });

  test(`at most ${MAX_COMMENTED_UPWARD} upward imports with a reason`, () => {
    expect(report.upward.commented.length).toBeLessThanOrEqual(MAX_COMMENTED_UPWARD);
  });
});

describe("the scan", () => {
  const root = mkdtempSync(join(tmpdir(), "gatehouse-layers-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  write("src/top/a.ts", 'import type { B } from "../bottom/b.ts";\nexport type A = B;\n');
  write(
    "src/bottom/b.ts",
    [
      "// import(\"../top/a.ts\") in a comment is not an import",
      "export type B = string;",
      'export const load = () => import("./c.ts");',
      "// layering: c.ts is loaded only when asked for",
      'export { c } from "../top/c.ts";',
    ].join("\n"),
  );
  write("src/top/c.ts", 'import {\n  type B,\n} from "../bottom/b.ts";\nexport const c: B = "c";\n');
  write("src/bottom/c.ts", 'import { c } from "../top/c.ts";\nexport const d = c;\n');
  const layers = [
    { name: "top", paths: ["src/top/"] },
    { name: "bottom", paths: ["src/bottom/"] },
  ];
  const report = layerReport(root, layers);

  test("sees type-only, multi-line, dynamic and re-exporting imports, not those in comments", () => {
    expect(report.imports.map(({ from, to, line }) => `${from}:${line} → ${to}`).sort()).toEqual([
      "src/bottom/b.ts:3 → src/bottom/c.ts",
      "src/bottom/b.ts:5 → src/top/c.ts",
      "src/bottom/c.ts:1 → src/top/c.ts",
      "src/top/a.ts:1 → src/bottom/b.ts",
      "src/top/c.ts:1 → src/bottom/b.ts",
    ]);
  });

  test("finds the circle and the upward imports, with their reason", () => {
    expect(report.circles).toEqual([["src/bottom/b.ts", "src/bottom/c.ts", "src/top/c.ts"]]);
    expect(shown(report.upward.uncommented)).toEqual(["src/bottom/c.ts:1 → src/top/c.ts"]);
    expect(report.upward.commented.map((edge) => edge.reason)).toEqual(["c.ts is loaded only when asked for"]);
    expect(keepsLayers(report)).toBe(false);
  });
});
