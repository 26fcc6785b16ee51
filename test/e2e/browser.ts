// Browser tests' shared pieces: build the UI, start Debian's Chromium through playwright-core (no browser download),
// and save screenshots that are checked to show something (more than a couple of colours).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import type { TestApi } from "../helpers/api.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const SCREENSHOTS = join(ROOT, "test/e2e/screenshots");

/** Builds web/dist with vite (as `npm run build:web`), so the test serves the current sources. */
export function buildWeb() {
  const r = spawnSync(process.execPath, [join(ROOT, "node_modules/vite/bin/vite.js"), "build", "web", "--logLevel", "warn"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`vite build failed:\n${r.stdout}\n${r.stderr}`);
}

/** Chromium flags that work on these machines (no network beyond loopback, running as root). */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), "fc-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    // The API's certificate comes from the service's own CA.
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Saves a full-page screenshot as test/e2e/screenshots/<name>.png and returns how many distinct colours it has
 * (counted by the page itself on a canvas): a blank or failed render has one or two.
 */
export async function screenshot(page: Page, name: string): Promise<number> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const png = await page.screenshot({ fullPage: true });
  writeFileSync(join(SCREENSHOTS, `${name}.png`), png);
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement("canvas");
    c.width = img.width;
    c.height = img.height;
    const g = c.getContext("2d")!;
    g.drawImage(img, 0, 0);
    const data = g.getImageData(0, 0, c.width, c.height).data;
    const colours = new Set<number>();
    for (let i = 0; i < data.length && colours.size < 1000; i += 4 * 7) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return colours.size;
  }, png.toString("base64"));
}

/** A new page of `context` signed in to `api` as an admin (the web's stored session, set before the app loads). */
export async function adminPage(context: BrowserContext, api: TestApi): Promise<Page> {
  const token = await api.issuer.token("root", { roles: ["flightctl-admin"] });
  const page = await context.newPage();
  // Generous: CI runs the browser beside the rest of the suite on 2 cores (a page once took over 20 s there).
  page.setDefaultTimeout(45_000);
  const session = { accessToken: token, expiresAt: Date.now() + 3600_000, provider: "test-oidc", clientId: "test" };
  await page.addInitScript((s) => localStorage.setItem("flightctl.session", s), JSON.stringify(session));
  return page;
}

/**
 * Waits for `text` on `page`; a timeout says what the page showed instead (its URL and text), since a CI failure
 * leaves nothing else to look at.
 */
export async function waitForText(page: Page, text: string): Promise<void> {
  try {
    await page.getByText(text).waitFor();
  } catch (e) {
    const shown = await page
      .locator("body")
      .textContent({ timeout: 2000 })
      .catch(() => "(unreadable)");
    throw new Error(`"${text}" did not appear on ${page.url()}; the page showed: ${shown?.trim().slice(0, 500)}`, { cause: e });
  }
}
