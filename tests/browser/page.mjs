// Drives Debian's Chromium (through playwright-core) through one step on the connections
// page, keeping the browser's cookies in STATE between steps, so a Rust test can act on the
// world (revoke at the platform, run the sweep) between two clicks. Saves a screenshot of where
// the step ended to SCREENSHOT and prints what the page shows as JSON; tests/connections_page.rs
// judges it.
//
//   node tests/browser/page.mjs STATE SCREENSHOT open URL
//       opens URL (a page link, or the page)
//   node tests/browser/page.mjs STATE SCREENSHOT connect CONNECT_URL USERNAME
//       connects an account: consent at the fake platform as USERNAME, back at the return page
//   node tests/browser/page.mjs STATE SCREENSHOT press PAGE_URL SELECTOR
//       opens the page, focuses the button SELECTOR and presses Enter (the keyboard, not a mouse)
//   node tests/browser/page.mjs STATE SCREENSHOT reconnect PAGE_URL CONNECTION_ID USERNAME
//       presses the connection's Reconnect button, consents as USERNAME, lands on the page again
//   node tests/browser/page.mjs STATE SCREENSHOT narrow URL
//       opens URL in a phone-sized window (390 px wide)
import { chromium } from "playwright-core";
import { existsSync } from "node:fs";

const [statePath, screenshot, step, ...args] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const consoleErrors = [];
let page;
try {
  const context = await browser.newContext({
    storageState: existsSync(statePath) ? statePath : undefined,
    viewport: step === "narrow" ? { width: 390, height: 844 } : { width: 1100, height: 900 },
  });
  page = await context.newPage();
  // A blocked resource or a policy violation shows up here (the page must need nothing else).
  // Failed loads are judged by their URL below: the browser's own favicon request may 404.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("response", (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== "/favicon.ico") consoleErrors.push(`${r.status()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => consoleErrors.push(`failed ${r.url()}: ${r.failure()?.errorText}`));

  // wrangler's dev proxy can lose a request written to a pooled connection as it idles out
  // (cloudflare/workers-sdk#14641; `lost_by_proxy` in tests/common/mod.rs says more). It sends a
  // GET again by itself but answers a form's POST with this 503, and the request never reached
  // the worker. So a form whose answer is that 503 is opened and pressed again, at most three
  // times, and the 503 is not counted as the page's error.
  const PROXY_LOST = "Your worker restarted mid-request.";
  const submit = async (pageUrl, selector) => {
    for (let attempt = 1; ; attempt++) {
      await page.goto(pageUrl);
      const button = page.locator(selector);
      await button.focus();
      const [response] = await Promise.all([
        page.waitForNavigation({ timeout: 30000 }),
        page.keyboard.press("Enter"),
      ]);
      const lost = response?.status() === 503 && (await response.text()).startsWith(PROXY_LOST);
      if (!lost || attempt === 3) return;
      console.error(`${selector}: wrangler's proxy lost the form's request; sent again`);
      const counted = consoleErrors.lastIndexOf(`503 ${response.url()}`);
      if (counted >= 0) consoleErrors.splice(counted, 1);
    }
  };

  const consent = async (username) => {
    await page.waitForSelector("#username", { timeout: 30000 });
    await page.fill("#username", username);
    await Promise.all([
      page.waitForNavigation({ timeout: 30000 }),
      page.click("button[value=approve]"),
    ]);
    await page.waitForLoadState("load");
  };

  switch (step) {
    case "open":
    case "narrow":
      await page.goto(args[0]);
      break;
    case "connect":
      await page.goto(args[0]);
      await consent(args[1]);
      break;
    case "press": {
      await submit(args[0], args[1]);
      await page.waitForLoadState("load");
      break;
    }
    case "reconnect": {
      const [pageUrl, connectionId, username] = args;
      await submit(pageUrl, `[data-connection="${connectionId}"] form[action$="/reconnect"] button`);
      await consent(username);
      await page.waitForURL(/\/page\?/, { timeout: 30000 });
      break;
    }
    default:
      throw new Error(`unknown step ${step}`);
  }

  await page.screenshot({ path: screenshot, fullPage: true });
  await context.storageState({ path: statePath });
  const shown = await page.evaluate(() => ({
    url: location.href,
    title: document.title,
    notice: document.querySelector(".notice")?.innerText ?? null,
    connections: [...document.querySelectorAll("[data-connection]")].map((li) => ({
      id: li.dataset.connection,
      health: li.dataset.health,
      reason: li.dataset.reason,
      badge: li.querySelector(".badge")?.innerText ?? null,
      text: li.innerText,
    })),
    posts: [...document.querySelectorAll("[data-post]")].map((li) => ({
      id: li.dataset.post,
      targets: [...li.querySelectorAll("[data-target]")].map((t) => ({ id: t.dataset.target, state: t.dataset.state })),
    })),
    // Controls a keyboard user cannot name are an accessibility failure.
    unlabelled: [...document.querySelectorAll("input:not([type=hidden]), button")]
      .filter((el) => !(el.labels?.length || el.textContent.trim() || el.getAttribute("aria-label")))
      .map((el) => el.outerHTML),
    text: document.body.innerText,
  }));
  const cookies = (await context.cookies()).map(({ name, httpOnly, sameSite }) => ({ name, httpOnly, sameSite }));
  console.log(JSON.stringify({ ...shown, cookies, consoleErrors }));
} catch (e) {
  // Where the browser got stuck: a screenshot beside the others, and the page in the error.
  if (page) {
    await page.screenshot({ path: screenshot.replace(/\.png$/, "-failed.png"), fullPage: true }).catch(() => {});
    console.error(`stuck at ${page.url()}: ${await page.innerText("body").catch(() => "")}`);
  }
  console.error(`console: ${JSON.stringify(consoleErrors)}`);
  throw e;
} finally {
  await browser.close();
}
