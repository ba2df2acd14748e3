// The portal's home page (GET /portal/): who you are, and your tokens about to expire.
import { Elysia } from "elysia";
import type { TokenService } from "../../tokens/service.ts";
import type { callerPlugin } from "../caller.ts";
import { html, notice } from "./html.ts";
import { doneMessage, type PortalPages } from "./pages.ts";
import { NOT_RETURNED } from "./return-to.ts";
import { meView } from "./views.ts";

export interface HomePageDeps {
  caller: ReturnType<typeof callerPlugin>;
  tokens: TokenService;
  pages: PortalPages;
}

export function homePage({ caller, tokens, pages }: HomePageDeps) {
  return new Elysia({ name: "portal-home" }).use(caller).get(
    "/portal/",
    async ({ request, query, ...found }) => {
      const me = pages.person(request, found);
      // A sign-in whose rd could not be followed (not a portal page, nor an allowed application's) lands here.
      const text = doneMessage(query, { [NOT_RETURNED]: "You are signed in. The page you came from is not one this portal may send you back to, so you are on the portal's home page." });
      const note = text ? notice("info", text) : "";
      const expiring = (await tokens.list(me.actor)).filter((token) => token.expiring_soon);
      return pages.answer(request, 200, "You", html`${note}${meView(me.user, me.provider.name, me.actor.admin, expiring)}`, me.frame, "");
    },
    { caller: true },
  );
}
