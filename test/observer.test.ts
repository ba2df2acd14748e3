// How observers hear of /authenticate's answers from memory (identity/observer.ts):
// through their own `remembered`, else through `authenticated` (remembered: true),
// never when they say they ignore them; one that throws is reported and disturbs nothing.
import { describe, expect, test } from "bun:test";
import { combineObservers, ignoreRemembered, rememberedAnswers, type AuthOutcome } from "../src/identity/observer.ts";
import type { AuthResult } from "../src/identity/result.ts";
import type { RequestContext } from "../src/identity/request.ts";

const result = { ok: false, reason: "all_failed", definite: true } as AuthResult;
const request = { entry: "authenticate", method: "GET" } as RequestContext;

describe("answers from memory, told to observers", () => {
  test("an observer with only `authenticated` hears them as remembered outcomes of 0 ms", () => {
    const outcomes: AuthOutcome[] = [];
    const told = rememberedAnswers({ authenticated: (outcome) => outcomes.push(outcome) })!;
    told(result, request);
    expect(outcomes).toEqual([{ result, durationMs: 0, request, remembered: true }]);
  });

  test("one with `remembered` hears them there, and not through `authenticated`", () => {
    const heard: unknown[] = [];
    const combined = combineObservers([{ remembered: (r, q) => heard.push([r, q]), authenticated: () => heard.push("authenticated") }])!;
    rememberedAnswers(combined)!(result, request);
    expect(heard).toEqual([[result, request]]);
  });

  test("one that ignores them is not called; with none listening, the combined observer ignores them too", () => {
    const regulationLike = { remembered: ignoreRemembered, authenticated: () => expect.unreachable() };
    expect(rememberedAnswers(regulationLike)).toBeNull();
    expect(rememberedAnswers(combineObservers([regulationLike]))).toBeNull();
  });

  test("every listener is told, in order; one that throws is reported and the others still hear", () => {
    const heard: string[] = [];
    const errors: unknown[] = [];
    const combined = combineObservers(
      [
        { remembered: () => heard.push("first") },
        { remembered: ignoreRemembered },
        {
          remembered: () => {
            throw new Error("observer broke");
          },
        },
        { authenticated: (outcome) => heard.push(`authenticated ${outcome.remembered}`) },
      ],
      (error) => errors.push(error),
    )!;
    rememberedAnswers(combined)!(result, request);
    expect(heard).toEqual(["first", "authenticated true"]);
    expect(errors).toHaveLength(1);
  });
});
