// The access rules of the bench's access cases (bench/run.ts, bench/ab.ts --access N): what a
// request costs with N rules against none. The request asked about is ACCESS_REQUEST; the first
// N - 1 rules do not match it, in the ways rules usually differ (another host, a path, a method,
// a network), and the last matches it and is passed (the bench user holds the role and, with an
// unrestricted API token, the scope): every rule is examined, and the answer is a 200.

/** What nginx sends about the request (the README's block): X-Original-URL and X-Original-Method. */
export const ACCESS_REQUEST = {
  "X-Original-URL": "https://app.example.org/v1/suites/main/family/task?x=1",
  "X-Original-Method": "GET",
};

export function accessRules(count: number) {
  const rules: Record<string, unknown>[] = [];
  for (let i = 0; i < count - 1; i++) {
    switch (i % 5) {
      case 0:
        rules.push({ hosts: [`site${i}.example.org`], policy: "bypass" });
        break;
      case 1:
        rules.push({ hosts: ["*.example.org"], paths: [`^/admin${i}/`], roles: ["admin"] });
        break;
      case 2:
        rules.push({ hosts: ["app.example.org"], methods: ["POST", "PUT", "DELETE"], paths: [`/v${i}/`], scopes: { ecflow: ["write"] } });
        break;
      case 3:
        rules.push({ networks: [`10.${i}.0.0/16`], paths: [`/metrics${i}`], policy: "bypass" });
        break;
      default:
        rules.push({ paths: [`/internal${i}/`], policy: "deny" });
    }
  }
  if (count > 0) rules.push({ hosts: ["app.example.org"], paths: ["^/v1/"], roles: ["reader"], scopes: { ecflow: ["read"] } });
  return { default_policy: "authenticated", rules };
}
