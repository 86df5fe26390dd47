// The demo tenant for local runs, through the operator API: created once (kept in
// .wrangler/evergreen-demo.json beside the local state, re-created if that state was wiped),
// with the test build's return page on its allow-list. Prints a fresh connect link and a fresh
// link to the end user's connections page.
//
//   node scripts/demo.mjs [end_user_ref] [provider]      (scripts/connect-url wraps this)
//   node scripts/demo.mjs --page [end_user_ref]          (scripts/page-url wraps this)
//
// Needs a running `scripts/dev` (EVERGREEN_PORT, default 8787) and .dev.vars's OPERATOR_SECRET.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;
const base = `http://127.0.0.1:${process.env.EVERGREEN_PORT || 8787}`;
const statePath = `${root}.wrangler/evergreen-demo.json`;
const pageOnly = process.argv[2] === "--page";
const args = process.argv.slice(pageOnly ? 3 : 2);
const endUserRef = args[0] || "demo-user";
const provider = args[1] || "x";

function devVar(name) {
  const text = readFileSync(`${root}.dev.vars`, "utf8");
  const line = text.split("\n").find((l) => l.startsWith(`${name}=`));
  if (!line) throw new Error(`${name} is not in .dev.vars; run scripts/dev first`);
  return line.slice(name.length + 1);
}

async function call(method, path, auth, body) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${auth}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, json, text };
}

function expect(answer, status, what) {
  if (answer.status !== status) {
    throw new Error(`${what}: HTTP ${answer.status}: ${answer.text}`);
  }
  return answer.json;
}

const operator = devVar("OPERATOR_SECRET");
let demo = null;
try { demo = JSON.parse(readFileSync(statePath, "utf8")); } catch { /* first run */ }
if (demo) {
  const found = await call("GET", `/admin/tenants/${demo.tenant_id}`, operator);
  if (found.status !== 200) demo = null; // the local state was wiped
}
if (!demo) {
  const tenant = expect(await call("POST", "/admin/tenants", operator, { name: "Demo scheduler" }), 201, "create the demo tenant");
  const key = async (scopes) =>
    expect(await call("POST", `/admin/tenants/${tenant.id}/api-keys`, operator, { scopes }), 201, "create a demo API key").key;
  demo = { tenant_id: tenant.id, manage_key: await key(["manage"]), tokens_key: await key(["tokens:read"]) };
  mkdirSync(`${root}.wrangler`, { recursive: true });
  writeFileSync(statePath, JSON.stringify(demo, null, 2) + "\n", { mode: 0o600 });
  console.log(`demo: created the demo tenant ${demo.tenant_id} (API keys in .wrangler/evergreen-demo.json)`);
}
const returnUrl = `${base}/__test/return`;
expect(await call("PUT", `/admin/tenants/${demo.tenant_id}/return-urls`, operator, { urls: [returnUrl] }), 200, "allow the return page");
const pageLink = expect(
  await call("POST", "/v1/page-links", demo.manage_key, { end_user_ref: endUserRef }),
  201,
  "create a connections page link",
);
const pageText = `Open ${endUserRef}'s connections page (valid 15 minutes, opens once; the page then stays open 2 hours):

  ${pageLink.url}

  It shows each connected account's health with Reconnect and Disconnect, and the posts that need
  a person. Another link: scripts/page-url [end_user_ref]`;
if (pageOnly) {
  console.log(`\n${pageText}\n`);
  process.exit(0);
}
const session = expect(
  await call("POST", "/v1/connect-sessions", demo.manage_key, { provider, end_user_ref: endUserRef, return_url: returnUrl }),
  201,
  "create a connect session",
);
console.log(`
Connect a demo ${provider} account: open this link in a browser (valid 10 minutes, opens once):

  ${session.url}

  The fake platform asks whom to sign in as; approve, and the return page shows the connection.
  Another link: scripts/connect-url [end_user_ref] [x|youtube|linkedin|tiktok|facebook|instagram|reddit|threads|pinterest|mastodon|bluesky]
  Then: curl -s -H "Authorization: Bearer $(node -p 'require("./.wrangler/evergreen-demo.json").manage_key')" ${base}/v1/connections

${pageText}
`);
