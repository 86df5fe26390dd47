// Drives a real browser (Debian's Chromium, through playwright-core) through the connect flow:
// open the connect link, sign in at the fake X as USERNAME and approve, land on the return
// page. Prints what the browser ended with as JSON; tests/browser_connect.rs judges it.
//
//   node tests/browser/connect.mjs CONNECT_URL USERNAME
import { chromium } from "playwright-core";

const [connectUrl, username] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(connectUrl);
  await page.fill("#username", username);
  await Promise.all([
    page.waitForURL(/\/__test\/return\?/, { timeout: 30000 }),
    page.click("button[value=approve]"),
  ]);
  const cookies = await context.cookies();
  console.log(JSON.stringify({
    url: page.url(),
    text: await page.innerText("body"),
    cookies: cookies.map(({ name, httpOnly, secure, sameSite, domain }) => ({ name, httpOnly, secure, sameSite, domain })),
  }));
} finally {
  await browser.close();
}
