// Loads the server's API docs page (/api/docs: Swagger UI) in headless Chromium with
// puppeteer-core and waits until the contract is rendered: the `agents` tag section and one of
// its operations. argv[2] is a JSON config: {url, tag, summary, screenshot, userDataDir}.
// Prints one JSON line with what happened; pytest asserts on it.
import { launchChromium } from './chromium.mjs';

const cfg = JSON.parse(process.argv[2]);
const out = { requests: [], failed: [], consoleErrors: [] };

const browser = await launchChromium(cfg.userDataDir, { width: 1280, height: 1000 });
let page;
try {
  page = await browser.newPage();
  page.on('request', (req) => out.requests.push(req.url()));
  page.on('requestfailed', (req) => out.failed.push(req.url()));
  page.on('console', (msg) => {
    if (msg.type() === 'error') out.consoleErrors.push(msg.text());
  });
  const response = await page.goto(`${cfg.url}/api/docs`, { waitUntil: 'load', timeout: 30000 });
  out.status = response.status();
  // Swagger UI fetches /api/openapi.json, then renders one section per tag.
  await page.waitForFunction(
    (tag, summary) => {
      const tags = [...document.querySelectorAll('.opblock-tag')].map((el) => el.innerText.trim());
      const summaries = [...document.querySelectorAll('.opblock-summary-description')]
        .map((el) => el.innerText.trim());
      return tags.some((t) => t.split('\n')[0] === tag) && summaries.includes(summary);
    },
    { timeout: 30000 },
    cfg.tag,
    cfg.summary,
  );
  out.tags = await page.$$eval('.opblock-tag', (els) => els.map((el) => el.innerText.split('\n')[0].trim()));
  out.operations = await page.$$eval('.opblock', (els) => els.length);
  out.title = await page.$eval('.info .title', (el) => el.innerText).catch(() => null);
  await page.screenshot({ path: cfg.screenshot, fullPage: false });
  out.screenshot = cfg.screenshot;
} catch (err) {
  out.error = String(err?.stack ?? err);
  out.bodyText = await page?.evaluate(() => document.body.innerText.slice(0, 2000)).catch(() => null);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
