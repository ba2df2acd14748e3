// `bun run scripts/long-functions.ts [--over N] [folder]`: every function in src/ (or the folder
// given) longer than N lines (100 by default), longest first, with where it starts. A function
// is measured from its first line to its last, nested functions included, as read by the
// TypeScript compiler's own parser (typescript/unstable/async: tsgo parses, nothing is checked).
//
// Issue 25's rule: no function over about 120 lines without a comment saying why it must be
// one. That comment starts with "Long on purpose:", just above the function (or above the
// statement that holds it); the list marks such functions "kept" with the reason.
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { API } from "typescript/unstable/async";
import { SyntaxKind, type Node, type SourceFile } from "typescript/unstable/ast";

const { values, positionals } = parseArgs({ options: { over: { type: "string", default: "100" } }, allowPositionals: true });
const over = Number(values.over);
const root = resolve(import.meta.dir, "..");
const folder = resolve(root, positionals[0] ?? "src");

const FUNCTIONS = new Set([
  SyntaxKind.FunctionDeclaration,
  SyntaxKind.FunctionExpression,
  SyntaxKind.ArrowFunction,
  SyntaxKind.MethodDeclaration,
  SyntaxKind.Constructor,
  SyntaxKind.GetAccessor,
  SyntaxKind.SetAccessor,
]);
const REASON = /Long on purpose:\s*([\s\S]*)/;

interface LongFunction {
  file: string;
  line: number;
  lines: number;
  name: string;
  reason: string | null;
}

const nameText = (node: Node | undefined): string | undefined => (node as { name?: { text?: string } } | undefined)?.name?.text;

/** The function's own name, or the name it is given (a const, a property), else where it sits. */
function nameOf(node: Node): string {
  const own = nameText(node);
  if (own) return node.kind === SyntaxKind.Constructor ? "constructor" : own;
  if (node.kind === SyntaxKind.Constructor) return `${nameText(node.parent) ?? "class"}.constructor`;
  const given = nameText(node.parent);
  if (given && (node.parent.kind === SyntaxKind.VariableDeclaration || node.parent.kind === SyntaxKind.PropertyAssignment)) return given;
  for (let outer = node.parent; outer; outer = outer.parent) {
    if (FUNCTIONS.has(outer.kind)) return `(a function in ${nameOf(outer)})`;
  }
  return "(a function)";
}

/** The reason written above the function, or above the statement or property that holds it. */
function reasonOf(node: Node, file: SourceFile): string | null {
  for (let at: Node | undefined = node; at && at.kind !== SyntaxKind.SourceFile; at = at.parent) {
    const found = REASON.exec(file.text.slice(at.pos, at.getStart(file)));
    if (found) return found[1].replace(/^\s*(\/\/|\/?\*+\/?)/gm, "").replace(/\s+/g, " ").trim();
    if (at.kind === SyntaxKind.VariableStatement || at.kind === SyntaxKind.PropertyAssignment || at.kind === SyntaxKind.Block) break;
  }
  return null;
}

function lineOf(starts: readonly number[], position: number): number {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (starts[middle] <= position) low = middle;
    else high = middle - 1;
  }
  return low + 1;
}

const api = new API({ cwd: root });
const found: LongFunction[] = [];
try {
  const snapshot = await api.updateSnapshot({ openProjects: [resolve(root, "tsconfig.json")] });
  const program = snapshot.getProjects()[0].program;
  for (const fileName of await program.getSourceFileNames()) {
    if (!fileName.startsWith(`${folder}/`) || fileName.endsWith(".d.ts")) continue;
    const file = (await program.getSourceFile(fileName))!;
    const starts = file.getLineStarts();
    const visit = (node: Node): void => {
      if (FUNCTIONS.has(node.kind)) {
        const line = lineOf(starts, node.getStart(file));
        const lines = lineOf(starts, node.end) - line + 1;
        if (lines > over) found.push({ file: fileName.slice(root.length + 1), line, lines, name: nameOf(node), reason: reasonOf(node, file) });
      }
      node.forEachChild(visit);
    };
    file.forEachChild(visit);
  }
} finally {
  await api.close();
}
found.sort((a, b) => b.lines - a.lines);
for (const entry of found) {
  const reason = entry.reason && (entry.reason.length > 110 ? `${entry.reason.slice(0, 110)}…` : entry.reason);
  console.log(`${String(entry.lines).padStart(5)}  ${entry.file}:${entry.line}  ${entry.name}${reason ? `  (kept: ${reason})` : ""}`);
}
console.log(`${found.length} functions over ${over} lines in ${folder.slice(root.length + 1) || "."}`);
