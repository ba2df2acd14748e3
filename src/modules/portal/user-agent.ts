// A session's User-Agent in words, for the portal's session tables: the
// browser and system ("Firefox on Linux"), or the program and its version
// ("ecflow_client 5.19", "curl 8.5"). Only for showing: a client says what it
// likes here, so nothing is decided on it, and the raw string stays available
// (the tables show it on demand).

/** Browsers, the first that matches naming it: Edge and Opera say "Chrome" too, Chrome says "Safari". */
const BROWSERS: [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\/(\d+)/, "Edge"],
  [/\b(?:OPR|Opera)\/(\d+)/, "Opera"],
  [/\bSamsungBrowser\/(\d+)/, "Samsung Internet"],
  [/\b(?:Firefox|FxiOS)\/(\d+)/, "Firefox"],
  [/(?:\b|Headless)(?:Chrome|CriOS|Chromium)\/(\d+)/, "Chrome"],
  [/\bVersion\/(\d+)[^ ]* (?:Mobile\/\S+ )?Safari\//, "Safari"],
];

/** Systems, the first that matches naming it: Android and ChromeOS say "Linux" too, iOS says "Mac OS X". */
const SYSTEMS: [RegExp, string][] = [
  [/\b(?:iPhone|iPad|iPod)\b/, "iOS"],
  [/\bAndroid\b/, "Android"],
  [/\bCrOS\b/, "ChromeOS"],
  [/\bWindows\b/, "Windows"],
  [/\bMac OS X\b|\bMacintosh\b/, "macOS"],
  [/\bLinux\b|\bX11\b/, "Linux"],
  [/\bFreeBSD\b/, "FreeBSD"],
];

/** A program's own product token: `curl/8.5.0`, `ecflow_client/5.19.0`, `python-requests/2.31.0`. */
const PROGRAM = /^([A-Za-z][\w.+-]{0,40})\/v?(\d+)(?:\.(\d+))?/;

/** What a User-Agent says, in words; "Unknown device" for none. */
export function describeUserAgent(userAgent: string | null | undefined): string {
  const ua = (userAgent ?? "").trim();
  if (ua === "") return "Unknown device";
  if (ua.startsWith("Mozilla/")) {
    const browser = BROWSERS.find(([pattern]) => pattern.test(ua))?.[1];
    const system = SYSTEMS.find(([pattern]) => pattern.test(ua))?.[1];
    if (browser) return system ? `${browser} on ${system}` : browser;
    if (system) return `A browser on ${system}`;
  }
  const program = PROGRAM.exec(ua);
  if (program) return program[3] !== undefined ? `${program[1]} ${program[2]}.${program[3]}` : `${program[1]} ${program[2]}`;
  // Something else: its first word, bounded (the raw string is shown on demand).
  const word = ua.split(/[\s/;(]/)[0]!.slice(0, 40);
  return word || "Unknown device";
}
