// `npm run bench:web`: the web UI with 10,000 devices in Debian Chromium. Figures: page load and time-to-table of
// the devices page (first load, a fresh browser profile each run, and a warm reload), the UI's bundle sizes (gzip),
// and as the baseline the same page's static shell (index.html + CSS, scripts blocked) measured in the same run.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import pg from "pg";
import { fileURLToPath } from "node:url";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { mkdtempSync, rmSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { migrate } from "../../db/migrate.js";
import { startApi } from "../../server/main/api.js";
import { createLogger } from "../../lib/logger.js";
import { startTestIssuer } from "../helpers/oidc.js";
import { benchDatabase } from "./server-process.js";
import { buildWeb, launchBrowser } from "../e2e/browser.js";

const DEVICES = Number(process.env.BENCH_DEVICES ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

buildWeb();
const dist = join(ROOT, "web/dist");
const index = readFileSync(join(dist, "index.html"), "utf8");
const entry = [...index.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]);
const gz = (f: string) => gzipSync(readFileSync(join(dist, f))).length;
const all = readdirSync(join(dist, "assets")).map((f) => `assets/${f}`);
const kb = (n: number) => (n / 1024).toFixed(1);
console.log(
  `bundle: first load (entry JS+CSS) ${kb(entry.reduce((s, f) => s + gz(f), 0))} KiB gzip; all chunks ${kb(all.reduce((s, f) => s + gz(f), 0))} KiB gzip (${all.length} files)`,
);

const db = await benchDatabase();
await migrate(db.url);
const issuer = await startTestIssuer();
const dataDir = mkdtempSync(join(tmpdir(), "fc-bench-web-"));
chmodSync(dataDir, 0o755);
const api = await startApi({
  databaseUrl: db.url,
  dataDir,
  address: "127.0.0.1:0",
  agentAddress: "127.0.0.1:0",
  authProviders: [issuer.provider()],
  // A benchmark measures capacity: one user's load far beyond any rate limit is the point.
  rateLimits: { trustedProxies: [] },
  log: createLogger("bench", "error"),
});
try {
  const token = await issuer.token("bench", { roles: ["flightctl-admin"] }, { expiresIn: 3600 });
  const auth = { headers: { authorization: `Bearer ${token}` } };
  const devices = createClient(
    DeviceService,
    createGrpcTransport({ baseUrl: `https://localhost:${api.port}`, nodeOptions: { ca: readFileSync(api.caPath) } }),
  );
  const started = Date.now();
  // One device through the API, then SQL copies of its row under other names (creating 10,000 through the API takes
  // minutes on a loaded 2-core machine and is not what is measured here).
  await devices.createDevice(
    {
      device: {
        apiVersion: "flightctl.io/v1beta1",
        kind: "Device",
        metadata: { name: "dev-00000", labels: { site: "site-0", tier: "edge" } },
      },
    },
    auth,
  );
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  await sql.query(
    `insert into devices
     select (jsonb_populate_record(null::devices, to_jsonb(d) || jsonb_build_object(
       'name', 'dev-' || lpad(i::text, 5, '0'),
       'labels', jsonb_build_object('site', 'site-' || (i % 100), 'tier', 'edge')))).*
     from devices d, generate_series(1, $1::int - 1) i where d.name = 'dev-00000'`,
    [DEVICES],
  );
  await sql.end();
  console.log(`loaded ${DEVICES} devices in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const base = `https://localhost:${api.port}`;
  const session = JSON.stringify({
    accessToken: token,
    expiresAt: Date.now() + 3_600_000,
    provider: "test-oidc",
    clientId: issuer.clientId,
  });

  const shell: number[] = [];
  const load: number[] = [];
  const table: number[] = [];
  const warm: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const b = await launchBrowser();
    try {
      const page = await b.context.newPage();
      // Baseline: the same document with its scripts blocked (HTML + CSS only).
      await page.route("**/*.js", (route) => route.abort());
      let t0 = Date.now();
      await page.goto(`${base}/devices`, { waitUntil: "load" });
      shell.push(Date.now() - t0);
      await page.unrouteAll();
      await page.evaluate((s) => localStorage.setItem("flightctl.session", s), session);
      // The devices page, first load of the scripts (the browser's cache is empty of them: they were blocked). The API
      // calls it makes before its table shows, with when each started: they should go out together.
      const calls: string[] = [];
      const rpc = (req: { url(): string }) => /\/flightctl\.v1beta1\.(\w+\/\w+)$/.exec(new URL(req.url()).pathname)?.[1];
      const onRequest = (req: { url(): string }) => void (rpc(req) && calls.push(`${rpc(req)} sent at ${Date.now() - t0} ms`));
      const onResponse = (res: { request(): { url(): string } }) =>
        void (rpc(res.request()) && calls.push(`${rpc(res.request())} answered at ${Date.now() - t0} ms`));
      page.on("request", onRequest);
      page.on("response", onResponse);
      t0 = Date.now();
      await page.goto(`${base}/devices`, { waitUntil: "load" });
      load.push(Date.now() - t0);
      await page
        .locator("#devices-table tbody tr")
        .nth(99)
        .waitFor()
        .catch(async (e) => {
          await page.screenshot({ path: join(tmpdir(), "web-bench-failed.png") });
          throw new Error(
            `the devices table did not show 100 rows (screenshot in ${tmpdir()}/web-bench-failed.png): ${(e as Error).message}`,
          );
        });
      table.push(Date.now() - t0);
      page.off("request", onRequest);
      page.off("response", onResponse);
      if (r === 0) console.log(`first load's API calls before the table (first run): ${calls.join(", ")}`);
      t0 = Date.now();
      await page.reload();
      await page.locator("#devices-table tbody tr").nth(99).waitFor();
      warm.push(Date.now() - t0);
    } finally {
      await b.close();
    }
  }
  console.log(`devices page with ${DEVICES} devices, median of ${RUNS} fresh browsers:`);
  console.log(`  static shell (baseline) load   ${median(shell)} ms`);
  console.log(`  devices page load event        ${median(load)} ms (${(median(load) / median(shell)).toFixed(1)}× shell)`);
  console.log(`  devices page time-to-table     ${median(table)} ms (${(median(table) / median(shell)).toFixed(1)}× shell)`);
  console.log(`  warm reload time-to-table      ${median(warm)} ms`);
} finally {
  await api.close();
  await issuer.close();
  await db.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
}
