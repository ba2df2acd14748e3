// A real browser for the portal suites: Debian's chromium driven by
// playwright-core (never a downloaded browser: the machines have no network),
// and axe-core run inside the page.
import { existsSync } from "node:fs";
import axe from "axe-core";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = "/usr/lib/chromium/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** True when chromium is installed; warns loudly when a suite is skipped for want of it. */
export function chromiumAvailable(suite: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  console.warn(`\n!!! SKIPPING ${suite}: chromium is not installed (run test/setup.sh as root, or apt-get install chromium) !!!\n`);
  return false;
}

/** `extraArgs`: more command-line switches, e.g. `--host-resolver-rules=MAP *.example.test 127.0.0.1`. */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...FLAGS, ...extraArgs], headless: true });
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/**
 * axe-core's serious and critical violations on the page as it is now. The
 * source is evaluated through the DevTools protocol, which the page's CSP
 * does not govern, so the page keeps its strict policy while being checked.
 */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  const loaded = await page.evaluate("typeof window.axe === 'object'");
  if (!loaded) await page.evaluate(`${axe.source}\n;0`);
  const violations = (await page.evaluate("window.axe.run(document).then((result) => result.violations)")) as AxeViolation[];
  return violations.filter((violation) => violation.impact === "serious" || violation.impact === "critical");
}
