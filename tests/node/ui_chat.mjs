// Drives the official ElizaOS web UI (@elizaos/client 1.7.2, served by the server under test)
// in headless Chromium with puppeteer-core: open /chat/<agentId>, type a message, press Enter,
// wait until the agent's reply is rendered, take a screenshot.
// argv[2] is a JSON config: {url, agentId, text, expect, screenshot, userDataDir, logs?}.
// With `logs: {expect: [...], screenshot?, then?: {text, expect: [...]}}` it then opens the agent's side
// panel on its Logs tab and waits until the panel lists every `expect` line (the turn just
// made); with `then`, it sends `then.text` too and waits for that turn's lines, streamed live.
// Prints one JSON line with what happened; pytest asserts on it.
import { launchChromium } from './chromium.mjs';

const cfg = JSON.parse(process.argv[2]);
const out = { socketRequests: [], websockets: [], consoleErrors: [], failedLocal: [] };
const started = Date.now();
const stamp = (what) => { out.timeline = out.timeline ?? []; out.timeline.push([Date.now() - started, what]); };

const activePanel = () => document.querySelector('[role="tabpanel"][data-state="active"]')?.innerText ?? '';

async function waitForPanelLines(page, lines) {
  await page.waitForFunction(
    (want) => {
      const text = document.querySelector('[role="tabpanel"][data-state="active"]')?.innerText ?? '';
      return want.every((line) => text.includes(line));
    },
    { timeout: 30000 },
    lines,
  );
}

async function showLogs(page, logs) {
  out.logRequests = [];
  page.on('request', (req) => {
    if (req.url().includes('/api/server/logs')) out.logRequests.push(req.url().slice(cfg.url.length));
  });
  // The side panel's toggle (its icon is PanelRight while closed), then the Logs tab.
  const toggle = await page.waitForSelector('button:has(svg.lucide-panel-right)', { timeout: 10000 });
  await toggle.click();
  const tab = await page.waitForSelector('button[role="tab"]::-p-text(Logs)', { timeout: 10000 });
  await tab.click();
  stamp('logs tab opened');
  await waitForPanelLines(page, logs.expect);
  stamp('turn lines listed');
  out.logsPanel = await page.evaluate(activePanel);
  if (logs.screenshot) await page.screenshot({ path: logs.screenshot });
  if (logs.then) {
    const input = await page.$('textarea');
    await input.click();
    await input.type(logs.then.text);
    await page.keyboard.press('Enter');
    await waitForPanelLines(page, logs.then.expect);
    stamp('second turn lines listed');
    out.logsPanelAfter = await page.evaluate(activePanel);
  }
}

const browser = await launchChromium(cfg.userDataDir, { width: 1280, height: 860 });
let page;
try {
  page = await browser.newPage();
  page.on('request', (req) => {
    const url = req.url();
    if (url.startsWith(cfg.url) && url.includes('/socket.io/')) {
      out.socketRequests.push(`${req.method()} ${url.slice(cfg.url.length)}`);
    }
  });
  page.on('requestfailed', (req) => {
    if (req.url().startsWith(cfg.url)) out.failedLocal.push(`${req.method()} ${req.url()}`);
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') out.consoleErrors.push(msg.text());
  });
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketCreated', ({ url }) => out.websockets.push(url));

  const chatUrl = `${cfg.url}/chat/${cfg.agentId}`;
  const response = await page.goto(chatUrl, { waitUntil: 'domcontentloaded', timeout: 30000 });
  out.status = response.status();
  out.contentType = response.headers()['content-type'];
  stamp('loaded');

  const input = await page.waitForSelector('textarea[placeholder^="Type your message"]', { timeout: 30000 });
  stamp('input ready');
  // The socket must be up (the UI joins the DM channel once connected) before sending.
  await page.waitForFunction(() => document.body.innerText.includes('Connected'), { timeout: 30000 })
    .then(() => { out.sawConnected = true; }, () => { out.sawConnected = false; });
  await input.click();
  await input.type(cfg.text);
  await page.keyboard.press('Enter');
  stamp('sent');

  await page.waitForFunction(
    (user, reply) => document.body.innerText.includes(user) && document.body.innerText.includes(reply),
    { timeout: 30000 },
    cfg.text,
    cfg.expect,
  );
  stamp('reply rendered');
  await new Promise((r) => setTimeout(r, 500)); // let the message list settle for the shot
  out.bodyText = await page.evaluate(() => document.body.innerText);
  out.inputAfter = await page.$eval('textarea', (el) => el.value);
  if (cfg.logs) await showLogs(page, cfg.logs);
  await page.screenshot({ path: cfg.screenshot, fullPage: false });
  out.screenshot = cfg.screenshot;
} catch (err) {
  out.error = String(err?.stack ?? err);
  // What the page looked like when it went wrong, beside the expected screenshot.
  await page?.screenshot({ path: cfg.screenshot.replace(/\.png$/, '.error.png') }).catch(() => {});
  out.bodyText = await page?.evaluate(() => document.body.innerText).catch(() => null);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
process.exit(0);
