// Elysia finds a request's path at the first "/" from index 11 of its URL
// (after "http://" and a host of at least four characters). With a Host of
// one or two characters, "http://ab/ab/api/v1/keys" is routed as
// /api/v1/keys: a proxy whose rules allow /ab/… would let it reach a route it
// was told to keep out. Such a request is refused before routing.
import { errorAnswer } from "./errors.ts";

/** Does Elysia route this URL by a path other than its real one? */
export function routedPathDiffers(url: string): boolean {
  const real = url.indexOf("/", url.indexOf("://") + 3);
  return url.indexOf("/", 11) !== real;
}

/** An app-level onRequest hook: 400 for a request Elysia would route by the wrong path. */
export function refuseMisroutedPath({ request }: { request: Request }): Response | undefined {
  if (!routedPathDiffers(request.url)) return undefined;
  return errorAnswer("error", 400, "The Host header is too short for this server to route the request; send the full host name");
}
