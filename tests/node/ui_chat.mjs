// Drives the official ElizaOS web UI (@elizaos/client 1.7.2, served by the server under test)
// in headless Chromium with puppeteer-core: open /chat/<agentId>, type a message, press Enter,
// wait until the agent's reply is rendered, take a screenshot.
// argv[2] is a JSON config: {url, agentId, text, expect, screenshot, userDataDir}.
// Prints one JSON line with what happened; pytest asserts on it.
import puppeteer from 'puppeteer-core';

const cfg = JSON.parse(process.argv[2]);
const out = { socketRequests: [], websockets: [], consoleErrors: [], failedLocal: [] };
const started = Date.now();
const stamp = (what) => { out.timeline = out.timeline ?? []; out.timeline.push([Date.now() - started, what]); };

const browser = await puppeteer.launch({
  executablePath: '/usr/bin/chromium',
  // The args carry --headless with the flags Chromium needs as root in CI (without the
  // background-networking ones it floods refused outside connections).
  headless: false,
  userDataDir: cfg.userDataDir,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
  ],
  defaultViewport: { width: 1280, height: 860 },
  protocolTimeout: 60000,
});
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
