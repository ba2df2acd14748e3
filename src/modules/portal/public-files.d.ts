// Files imported `with { type: "file" }` are their path (see assets.ts).
declare module "*.css" {
  const path: string;
  export default path;
}
