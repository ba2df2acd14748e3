// "Who is calling this route?": the identity pipeline run on the request, as
// /authenticate and /whoami do, or the 401 JSON answer with the challenge.
import type { IdentityPipeline } from "../identity/pipeline.ts";
import type { ClientAddress } from "../identity/client.ts";
import type { User } from "../identity/user.ts";
import type { Provider } from "../providers/provider.ts";
import { clientAddress, jsonError, type PeerLookup } from "./http.ts";

export interface Caller {
  user: User;
  provider: Provider;
  client: ClientAddress;
}

export async function authenticateCaller(
  pipeline: IdentityPipeline,
  request: Request,
  server: PeerLookup | null | undefined,
): Promise<Caller | Response> {
  const client = clientAddress(request, server);
  const result = await pipeline.authenticate(request.headers.get("authorization"), request.headers.get("x-auth-realm"), client);
  if (!result.ok) return jsonError(401, "Authentication required", { "www-authenticate": pipeline.challenge });
  return { user: result.user, provider: result.provider, client };
}
