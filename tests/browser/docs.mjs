// Opens the API reference page (/docs) in a real browser (Debian's Chromium, through
// playwright-core) with every request beyond loopback refused, and prints what it rendered as
// JSON; tests/tenant_isolated/api_docs.rs judges it.
//
//   node tests/browser/docs.mjs BASE_URL
import { chromium } from "playwright-core";

const [base] = process.argv.slice(2);
const loopback = (url) => {
  const { protocol, hostname } = new URL(url);
  if (protocol === "data:" || protocol === "blob:") return true;
  return hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]";
};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const context = await browser.newContext();
  const blocked = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (loopback(url)) return route.continue();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  const answer = await page.goto(`${base}/docs`, { waitUntil: "networkidle" });
  await page.waitForSelector(".opblock", { timeout: 30000 });
  const operations = await page.$$eval(".opblock", (blocks) => blocks.map((b) => ({
    method: (b.querySelector(".opblock-summary-method")?.textContent || "").trim().toLowerCase(),
    path: b.querySelector(".opblock-summary-path")?.getAttribute("data-path") || "",
    operation_id: (b.querySelector(".opblock-summary-operation-id")?.textContent || "").trim(),
  })));
  console.log(JSON.stringify({
    status: answer.status(),
    title: await page.title(),
    operations,
    blocked,
    errors,
  }));
} finally {
  await browser.close();
}
