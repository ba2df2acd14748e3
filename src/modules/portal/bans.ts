// The portal's page of regulation's bans, for administrators (./index.ts lists them all):
//
//   GET  /portal/admin/regulation     the bans in force        POST /portal/admin/regulation/release
//
// The same release as `gatehouse regulation release` and POST /api/v1/regulation/release:
// audited, in force at once (regulation/regulator.ts).
import { Elysia } from "elysia";
import { Refusal } from "../../refusal.ts";
import type { Regulator } from "../../regulation/regulator.ts";
import type { callerPlugin } from "../caller.ts";
import { regulatorOf } from "../regulation/index.ts";
import { bansView } from "./admin-views.ts";
import { field, FormBody, parseForm } from "./forms.ts";
import { doneMessage, type PortalPages } from "./pages.ts";

export interface BanPagesDeps {
  caller: ReturnType<typeof callerPlugin>;
  /** null when regulation is off: the page says so. */
  regulator: Regulator | null;
  pages: PortalPages;
}

export function banPages({ caller, regulator, pages }: BanPagesDeps) {
  const { person, redirect } = pages;
  return new Elysia({ name: "portal-bans" })
    .use(caller)
    .get(
      "/portal/admin/regulation",
      async ({ request, query, ...found }) => {
        const me = person(request, found);
        const done = doneMessage(query, { released: "Released: the right password is accepted again at once.", none: "That ban had already ended." });
        const message = done ? { kind: query.done === "none" ? ("error" as const) : ("success" as const), text: done } : undefined;
        return pages.answer(request, 200, "Bans", bansView(regulator ? await regulator.activeBans() : null, me.frame.csrf, message), me.frame, "admin/regulation");
      },
      { admin: true },
    )
    .post(
      "/portal/admin/regulation/release",
      async ({ request, body, ...found }) => {
        const me = person(request, found);
        const regulating = regulatorOf(regulator);
        const kind = field(body, "kind");
        const subject = field(body, "subject");
        if ((kind !== "username" && kind !== "address") || subject === "") throw new Refusal(400, "Choose a ban to release");
        const released = await regulating.release(me.actor, kind, subject);
        return redirect(request, `admin/regulation?done=${released ? "released" : "none"}`);
      },
      { admin: true, parse: parseForm, body: FormBody },
    );
}
