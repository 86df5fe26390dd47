// Opens the API reference page (/docs/) in Debian's Chromium (through playwright-core), waits
// until Swagger UI has rendered the document, saves a screenshot to SCREENSHOT and prints what the
// page shows as JSON: its heading, its whole text, and every console error or failed load
// (a Content-Security-Policy violation shows up there). tests/connections_page.rs judges it.
//
//   node tests/browser/reference.mjs SCREENSHOT URL
import { chromium } from "playwright-core";

const [screenshot, url] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const consoleErrors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Failed loads are judged by their URL below: the browser's own favicon request may 404.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("response", (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== "/favicon.ico") consoleErrors.push(`${r.status()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => consoleErrors.push(`failed ${r.url()}: ${r.failure()?.errorText}`));
  await page.goto(url);
  // Swagger UI renders the document's title, then one block per operation, once it has read it.
  await page.waitForSelector(".info .title", { timeout: 30000 });
  await page.waitForSelector(".opblock", { timeout: 30000 });
  await page.waitForLoadState("networkidle");
  await page.screenshot({ path: screenshot, fullPage: false });
  const shown = {
    heading: (await page.textContent(".info .title"))?.trim() ?? "",
    text: await page.evaluate(() => document.body.innerText),
    consoleErrors,
  };
  console.log(JSON.stringify(shown));
} finally {
  await browser.close();
}
