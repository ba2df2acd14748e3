// The portal's static files, from the project's public/ folder, embedded in
// the compiled binary: each is imported as a file (a path, under
// /$bunfs/root/public/ once compiled; see STACK-NOTES "Elysia and static
// files in a binary"), then served with Bun.file. A new file in public/ gets
// its line here.
import css from "../../../public/portal.css" with { type: "file" };
// @ts-ignore -- a plain script, imported as its path (not as a module); TypeScript has no types for it.
import script from "../../../public/portal.js" with { type: "file" };

export const ASSETS: ReadonlyMap<string, { path: string; type: string }> = new Map([
  ["portal.css", { path: css as unknown as string, type: "text/css; charset=utf-8" }],
  ["portal.js", { path: script as unknown as string, type: "text/javascript; charset=utf-8" }],
]);
