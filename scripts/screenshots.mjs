// Takes the console screenshots in docs/ (the README shows the overview): the demo plant, run for
// a little while, in headless Chromium. `npm run build && node scripts/screenshots.mjs`
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, startDemo } from '../bench/lib/console.mjs';
import { sleep } from '../bench/lib/proc.mjs';

const DOCS = fileURLToPath(new URL('../docs/', import.meta.url));
const demo = await startDemo({ dir: mkdtempSync(join(tmpdir(), 'fg-shots-')) });
const browser = await launchBrowser();
try {
  await sleep(Number(process.env.WARMUP_MS ?? 45_000)); // sparklines and a chart need some history
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' });
  await page.goto(`${demo.url}/`);
  await page.waitForSelector('#parts tbody tr');
  await sleep(2500); // a second overview: the rates
  await page.screenshot({ path: join(DOCS, 'console-overview.png') });
  await page.goto(`${demo.url}/#/device/cnc4`);
  await page.waitForSelector('#tags tr[data-tag]');
  await page.screenshot({ path: join(DOCS, 'console-device.png') });
  await page.goto(`${demo.url}/#/tag/oven1/temperature?range=15m`);
  await page.waitForSelector('#chart canvas');
  await sleep(500);
  await page.screenshot({ path: join(DOCS, 'console-chart.png') });
  process.stdout.write(`wrote ${['console-overview.png', 'console-device.png', 'console-chart.png'].map((f) => join(DOCS, f)).join(', ')}\n`);
} finally {
  await browser.close();
  await demo.stop();
}
