// The headless Chromium the browser tests drive (puppeteer-core on the system's chromium).
import puppeteer from 'puppeteer-core';

export function launchChromium(userDataDir, viewport) {
  return puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    // The args carry --headless with the flags Chromium needs as root in CI (without the
    // background-networking ones it floods refused outside connections).
    headless: false,
    userDataDir,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
    defaultViewport: viewport,
    protocolTimeout: 60000,
  });
}
