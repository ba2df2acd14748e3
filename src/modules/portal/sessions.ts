// The portal's session pages (./index.ts lists them all):
//
//   GET  /portal/sessions   your sessions   POST /portal/sessions/revoke, /sessions/revoke-others
import { Elysia } from "elysia";
import type { SessionService } from "../../sessions/service.ts";
import type { callerPlugin } from "../caller.ts";
import type { PortalCookie } from "./cookie.ts";
import { field, FormBody, parseForm } from "./forms.ts";
import { backTo, doneMessage, type PortalPages } from "./pages.ts";
import { sessionsView } from "./views.ts";

export interface SessionPagesDeps {
  caller: ReturnType<typeof callerPlugin>;
  cookie: PortalCookie;
  sessions: SessionService;
  pages: PortalPages;
}

export function sessionPages({ caller, cookie, sessions, pages }: SessionPagesDeps) {
  const { person, redirect } = pages;
  return new Elysia({ name: "portal-sessions" })
    .use(caller)
    .get(
      "/portal/sessions",
      async ({ request, query, ...found }) => {
        const me = person(request, found);
        const done = doneMessage(query, { revoked: "The session has ended.", others: "You are signed out everywhere else." });
        return pages.answer(request, 200, "Your sessions", sessionsView(await sessions.list(me.actor), me.sessionId, me.frame.csrf, done), me.frame, "sessions");
      },
      { caller: "sessions" },
    )
    .post(
      "/portal/sessions/revoke",
      async ({ request, body, ...found }) => {
        const me = person(request, found);
        const id = field(body, "id");
        if (id === me.sessionId) {
          await sessions.revoke(me.actor, id, "logout");
          return redirect(request, "sign-in?done=signed-out", cookie.clear(request));
        }
        await sessions.revoke(me.actor, id);
        return redirect(request, backTo(body, "revoked"));
      },
      { caller: "sessions", parse: parseForm, body: FormBody },
    )
    .post(
      "/portal/sessions/revoke-others",
      async ({ request, body: _body, ...found }) => {
        const me = person(request, found);
        for (const session of await sessions.list(me.actor)) {
          if (session.id !== me.sessionId) await sessions.revoke(me.actor, session.id, "signed out everywhere else");
        }
        return redirect(request, "sessions?done=others");
      },
      { caller: "sessions", parse: parseForm, body: FormBody },
    );
}
