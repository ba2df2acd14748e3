import pkg from "../package.json" with { type: "json" };

export const NAME = "Gatehouse";
export const VERSION: string = pkg.version;
