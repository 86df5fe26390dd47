// A webhook receiver on loopback for the integration tests. It verifies every delivery with the
// official Standard Webhooks library (npm `standardwebhooks`), never with Evergreen's own code.
//
//   POST /hooks/{name}            a delivery: 503 while down, else verified and recorded (204)
//   PUT  /control/secret/{name}   body: the endpoint's whsec_ secret; or several, separated by
//                                 spaces: the first is the receiver's own (it decides the
//                                 answer), each one's verdict is recorded in `verified_by`
//   PUT  /control/down            body: "true" or "false"
//   GET  /control/received        everything received, verified or not, in arrival order
//
// Prints `listening <port>` once it accepts connections.
import http from "node:http";
import { Webhook } from "standardwebhooks";

const secrets = new Map();
const received = [];
let down = false;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const server = http.createServer(async (req, res) => {
  const body = await readBody(req);
  const [, area, what, name] = req.url.split("/");
  if (req.method === "POST" && area === "hooks") {
    const entry = {
      name: what,
      webhook_id: req.headers["webhook-id"] ?? null,
      timestamp: req.headers["webhook-timestamp"] ?? null,
      body,
      answered: down ? 503 : 204,
      signature: req.headers["webhook-signature"] ?? null,
      verified: false,
      verified_by: [],
      error: null,
    };
    if (!down) {
      const known = secrets.get(what) ?? [];
      if (known.length === 0) entry.error = `no secret for ${what}`;
      for (const secret of known) {
        try {
          new Webhook(secret).verify(body, {
            "webhook-id": req.headers["webhook-id"],
            "webhook-timestamp": req.headers["webhook-timestamp"],
            "webhook-signature": req.headers["webhook-signature"],
          });
          entry.verified_by.push(true);
        } catch (e) {
          entry.verified_by.push(false);
          if (entry.error === null) entry.error = String(e && e.message ? e.message : e);
        }
      }
      entry.verified = entry.verified_by[0] === true;
      if (!entry.verified) entry.answered = 400;
    }
    received.push(entry);
    res.writeHead(entry.answered).end();
    return;
  }
  if (req.method === "PUT" && area === "control" && what === "secret") {
    secrets.set(name, body.trim().split(/\s+/));
    res.writeHead(204).end();
    return;
  }
  if (req.method === "PUT" && area === "control" && what === "down") {
    down = body.trim() === "true";
    res.writeHead(204).end();
    return;
  }
  if (req.method === "GET" && area === "control" && what === "received") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(received));
    return;
  }
  res.writeHead(404).end();
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
