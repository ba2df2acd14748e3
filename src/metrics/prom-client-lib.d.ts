// The files of prom-client that metrics/prom.ts loads directly (the package types only its index).
declare module "prom-client/lib/registry.js" {
  const value: unknown;
  export default value;
}
declare module "prom-client/lib/counter.js" {
  const value: unknown;
  export default value;
}
declare module "prom-client/lib/gauge.js" {
  const value: unknown;
  export default value;
}
declare module "prom-client/lib/histogram.js" {
  const value: unknown;
  export default value;
}
