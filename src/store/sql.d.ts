// Migrations are imported as embedded files (`with { type: "file" }`): the value is their path.
declare module "*.sql" {
  const path: string;
  export default path;
}
