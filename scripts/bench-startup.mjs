// Start-up of the worker bundle, as a proxy for the platform's 1-second start-up limit: compile
// the wasm, instantiate it with the bundle's own JS glue, and run its start function
// (`__wbindgen_start`), the work an isolate does before its first request. Prints the median of
// RUNS fresh starts (each compiles the module again; nothing is cached between runs).
//
// It runs in Debian's Chromium (through playwright-core), not in node: the bundle uses wasm
// exception handling with exnref, which workerd's V8 has and node 20's V8 (11.3) cannot compile.
//
//   node scripts/bench-startup.mjs BUILD_DIR [RUNS]      (BUILD_DIR holds index.js, index_bg.wasm)
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [dir, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 20);
const bytes = readFileSync(join(dir, "index_bg.wasm"));
let glue = readFileSync(join(dir, "index.js"), "utf8");

// The glue imports the runtime's module and the wasm as a module; node has neither.
const entry = /import\{WorkerEntrypoint as (\w+)\}from"cloudflare:workers";/;
const wasm = /import (\w+) from"\.\/index_bg\.wasm";/;
const start = /function (\w+)\(\)\{[^{}]*?new WebAssembly\.Instance\(/;
for (const [what, re] of [["the runtime import", entry], ["the wasm import", wasm], ["the start function", start]]) {
  if (!re.test(glue)) throw new Error(`bench-startup: ${what} is not where the glue used to have it`);
}
glue = glue
  .replace(entry, "const $1=class{};")
  .replace(wasm, "const $1=globalThis.__evergreenWasm;");
glue += `\nexport const __evergreenStart=${start.exec(glue)[1]};\n`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage();
  const figures = await page.evaluate(async ({ b64, glue, runs }) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const compile = [], instantiate = [];
    for (let i = 0; i < runs; i++) {
      // A new module URL each run: no shared instance between runs.
      const url = URL.createObjectURL(new Blob([`${glue}\n//${i}`], { type: "text/javascript" }));
      const t0 = performance.now();
      globalThis.__evergreenWasm = await WebAssembly.compile(bytes);
      const t1 = performance.now();
      const glueModule = await import(url);
      glueModule.__evergreenStart();
      const t2 = performance.now();
      compile.push(t1 - t0);
      instantiate.push(t2 - t1);
    }
    const total = compile.map((c, i) => c + instantiate[i]);
    return {
      runs,
      compile_ms: +median(compile).toFixed(1),
      instantiate_and_start_ms: +median(instantiate).toFixed(1),
      total_ms: +median(total).toFixed(1),
    };
  }, { b64: bytes.toString("base64"), glue, runs });
  console.log(JSON.stringify(figures));
} finally {
  await browser.close();
}
