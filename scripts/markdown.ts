// What the generated reference pages (scripts/config-docs.ts, scripts/cli-docs.ts)
// share: text made safe for Markdown, tables, and writing a page or saying it
// is stale (`--check`), as scripts/openapi-docs.ts does for docs/api/.
import { readFileSync, writeFileSync } from "node:fs";
import { relative, resolve } from "node:path";

export const PROJECT_ROOT = resolve(import.meta.dir, "..");

const ESCAPES: Record<string, string> = { "<": "&lt;", ">": "&gt;", "*": "\\*", $: "\\$", _: "\\_" };

/**
 * Text from the code, for Markdown: outside `code spans`, `<`, `>`, `*`, `$`
 * and an `_` that is not inside a word are escaped (`<host>.<port>` is not an
 * HTML tag, `*.example.org` and `__Secure-…` no emphasis, `$argon2id$…$` no
 * formula on GitHub); code spans are kept as they are. In a table cell, `|` is escaped
 * everywhere (GitHub reads `\|` inside a code span in a table as `|`).
 */
export function inline(text: string, inTable = false): string {
  const escaped = text
    .split(/(`[^`]*`)/)
    .map((part, index) => (index % 2 === 1 ? part : part.replace(/[<>*$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, (character) => ESCAPES[character]!)))
    .join("");
  return inTable ? escaped.replace(/\|/g, "\\|").replace(/\n+/g, " ") : escaped;
}

/** A value in a code span (one with a backtick inside is fenced with two). */
export const code = (text: string) => (text.includes("`") ? `\`\` ${text} \`\`` : `\`${text}\``);

/** A code span in a table cell, its `|` escaped. */
export const cellCode = (text: string) => code(text).replace(/\|/g, "\\|");

/** A Markdown table; cells are Markdown already (see inline). */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((row) => `| ${row.join(" | ")} |`), ""];
}

/** Blank lines never doubled, one newline at the end. */
export const pageText = (lines: readonly string[]) => `${lines.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd()}\n`;

/**
 * A generator's main: writes `text` to `path`, or with --check only says
 * whether the committed file is stale (exit 1), naming the npm script that
 * rewrites it.
 */
export function writeGenerated(path: string, text: string, script: string, argv = process.argv): number {
  const name = relative(PROJECT_ROOT, path);
  if (argv.includes("--check")) {
    let committed: string | undefined;
    try {
      committed = readFileSync(path, "utf8");
    } catch {
      committed = undefined;
    }
    if (committed === text) return 0;
    console.error(`${name} is stale: run npm run ${script}`);
    return 1;
  }
  writeFileSync(path, text);
  console.log(`wrote ${name}`);
  return 0;
}
