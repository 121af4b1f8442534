// Drives Debian's Chromium through playwright-core (no browser download) for irisonnx.
// Why playwright-core and not `chromium --dump-dom`: the runtime keeps one page open across
// many chunks, fills forms, takes screenshots and sees every request the page makes.
//
// Usage: node driver.mjs [--modules DIR/node_modules] --chromium /usr/bin/chromium --url http://127.0.0.1:PORT/page.html --timeout 20000 [--ready load]
// (--modules: where playwright-core is, e.g. the per-user cache of `irisonnx setup web`; default
// the node_modules beside this file)
// (without --ready load it waits for the page to set window.irisonnxReady = true)
// Then JSON lines on stdin, one JSON line answer each on stdout:
//   {"cmd":"run","b64":...,"rows":n,"cols":f}  -> {"ok":true,"outputs":{name:{dtype,dims,b64}}}
//   {"cmd":"form","values":{"id":"5.1",...}}   -> {"ok":true,"text":"...","label":"..."}
//   {"cmd":"eval","js":"expression"}           -> {"ok":true,"value":...}
//   {"cmd":"screenshot","path":"/abs/file.png"} -> {"ok":true}
//   {"cmd":"info"}                              -> {"ok":true,"info":{...},"requests":[urls]}
//   {"cmd":"close"}                             -> {"ok":true}, then Chromium closes and node exits
// End of stdin closes the browser and exits as "close" does (the owner went away).
//
// The page reaches only the server it was opened from: every other request (another port,
// another host, a service worker) is aborted and its URL listed in "blocked", which every
// answer carries; irisonnx fails the build when that list is not empty. Outside routing,
// Chromium sends whatever is not our origin to a dead proxy (WebSockets, which routes do
// not see, are listed as blocked too) and WebRTC may use no UDP.
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
// Resolved from the folder that holds node_modules, wherever this file is (an installed wheel).
const require = createRequire(args.modules ? path.join(path.dirname(path.resolve(args.modules)), 'irisonnx-driver.cjs') : import.meta.url);
const { chromium } = require('playwright-core');
const timeout = Number(args.timeout || 20000);
const origin = new URL(args.url).origin;
const requests = [];
const blocked = [];
const consoleLines = [];
const say = (obj) => process.stdout.write(JSON.stringify({ ...obj, blocked }) + '\n');

let launching = null; // Chromium being started, then started
let closing = null;
// Closes Chromium (its profile and singleton folders go with it) and exits; safe to call more
// than once. A signal during the launch waits for it: killing a half-started Chromium leaves
// its folders in TMPDIR.
const finish = (code) => {
  if (!closing) {
    const guard = setTimeout(() => process.exit(code), 5000); // a browser that hangs on close
    guard.unref();
    closing = (launching ? launching.then((b) => b.close()) : Promise.resolve()).catch(() => {}).then(() => process.exit(code));
  }
  return closing;
};
let browser = null;
for (const [sig, n] of [['SIGTERM', 15], ['SIGINT', 2], ['SIGHUP', 1]]) process.on(sig, () => finish(128 + n));

try {
  launching = chromium.launch({
    executablePath: args.chromium || '/usr/bin/chromium',
    headless: true,
    timeout,
    handleSIGINT: false, // ours above: close, then exit (playwright's would close and stay)
    handleSIGTERM: false,
    handleSIGHUP: false,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--proxy-server=http://127.0.0.1:9', `--proxy-bypass-list=<-loopback>;${new URL(args.url).host}`, '--force-webrtc-ip-handling-policy=disable_non_proxied_udp',
    ],
  });
  browser = await launching;
} catch (e) {
  // Chromium did not start: one answer with the reason (a crash would show only node's version)
  const why = e.message.split('\n').find((l) => /FATAL|error while loading/.test(l)) || e.message.split('\n')[0];
  say({ ok: false, error: `Chromium did not start: ${why.trim()}` });
  process.exit(2);
}
let page;
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 }, serviceWorkers: 'block' });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    let same = false;
    try { same = new URL(url).origin === origin; } catch { same = false; }
    if (same) return route.continue();
    blocked.push(url);
    return route.abort('blockedbyclient');
  });
  page = await context.newPage();
  page.setDefaultTimeout(timeout);
  context.on('request', (r) => requests.push(r.url()));
  page.on('websocket', (ws) => { if (new URL(ws.url()).host !== new URL(origin).host) blocked.push(ws.url()); }); // the proxy stops it; we fail the build
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  await page.goto(args.url, { timeout, waitUntil: 'load' });
  if (args.ready !== 'load') {
    const ready = await page.waitForFunction(() => window.irisonnxReady, null, { timeout }).then((h) => h.jsonValue());
    if (ready !== true) throw new Error(String(ready));
  }
  say({ ok: true, ready: true });
} catch (e) {
  say({ ok: false, error: `page did not load: ${e.message.split('\n')[0]}`, console: consoleLines.slice(-5), requests });
  await finish(2);
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  let msg;
  try {
    msg = JSON.parse(line);
    if (msg.cmd === 'run') {
      const outputs = await page.evaluate(([b64, rows, cols]) => window.irisonnxRun(b64, rows, cols), [msg.b64, msg.rows, msg.cols]);
      say({ ok: true, outputs });
    } else if (msg.cmd === 'form') {
      for (const [id, value] of Object.entries(msg.values)) await page.fill(`#${id}`, String(value));
      await page.evaluate(() => { const r = document.getElementById('result'); r.dataset.done = ''; });
      await page.click('#classify');
      await page.waitForFunction(() => document.getElementById('result').dataset.done === '1');
      const text = await page.textContent('#result');
      const label = await page.getAttribute('#result', 'data-label');
      say({ ok: true, text, label });
    } else if (msg.cmd === 'eval') {
      const value = await page.evaluate(msg.js);
      say({ ok: true, value });
    } else if (msg.cmd === 'screenshot') {
      await page.screenshot({ path: msg.path, fullPage: true });
      say({ ok: true });
    } else if (msg.cmd === 'info') {
      const info = await page.evaluate(() => window.irisonnxInfo || {});
      say({ ok: true, info, requests, console: consoleLines });
    } else if (msg.cmd === 'close') {
      say({ ok: true });
      break;
    } else {
      say({ ok: false, error: `unknown command ${msg.cmd}` });
    }
  } catch (e) {
    say({ ok: false, error: e.message.split('\n')[0], console: consoleLines.slice(-5) });
  }
}
// "close", or stdin ended: without an explicit exit node would wait on stdin forever.
await finish(0);
