// Open one HTML file in Debian's headless Chromium (driven by playwright-core, no browser download)
// at each width, and report what a person would see: does the page scroll sideways, did every image
// load, does a click on a header sort its table. Saves a screenshot per width.
// Usage: node look.mjs FILE.html SCREENSHOT_PREFIX [WIDTH...]   -> one JSON object on stdout
import { chromium } from 'playwright-core';

const [file, prefix, ...widths] = process.argv.slice(2);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SHOT_MAX_PX = 6000; // a long report: the top of the page is what a screenshot can show

const browser = await chromium.launch({
  executablePath: process.env.DOSING_CHROMIUM || '/usr/bin/chromium', args: FLAGS,
});
const requests = [];
const found = { file, widths: {} };
try {
  for (const width of (widths.length ? widths : ['1280', '390']).map(Number)) {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    page.on('request', r => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url()); });
    await page.goto('file://' + file, { waitUntil: 'load' });
    const seen = await page.evaluate(() => ({
      scrollWidth: document.scrollingElement.scrollWidth,
      innerWidth: window.innerWidth,
      images: document.images.length,
      brokenImages: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
      height: document.scrollingElement.scrollHeight,
    }));
    seen.sort = await sortCheck(page);
    seen.screenshot = `${prefix}-${width}.png`;
    await page.screenshot({ path: seen.screenshot, fullPage: true,
      clip: { x: 0, y: 0, width, height: Math.min(seen.height, SHOT_MAX_PX) } });
    found.widths[width] = seen;
    await page.close();
  }
} finally {
  await browser.close();
}
found.requests = requests;
console.log(JSON.stringify(found));

// Click the header of the first numeric column (not all equal) of the first sortable table with 3+
// rows; read the column after one click and after a second click.
async function sortCheck(page) {
  const target = await page.evaluate(() => {
    const tables = [...document.querySelectorAll('table.sortable')].filter(t => t.tBodies[0].rows.length >= 3);
    for (const [t, table] of tables.entries()) {
      const heads = [...table.tHead.rows[0].cells];
      for (const [c, th] of heads.entries()) {
        const values = [...table.tBodies[0].rows].map(r => r.cells[c].textContent.trim()).filter(v => v !== '');
        if (th.classList.contains('n') && new Set(values).size > 1) return { t, c, header: th.textContent };
      }
    }
    return null;
  });
  if (target === null) return { found: false };
  const read = () => page.evaluate(({ t, c }) => {
    const tables = [...document.querySelectorAll('table.sortable')].filter(x => x.tBodies[0].rows.length >= 3);
    return [...tables[t].tBodies[0].rows].map(r => r.cells[c].textContent.trim());
  }, target);
  const header = async () => {
    const handle = await page.evaluateHandle(({ t, c }) => [...document.querySelectorAll('table.sortable')]
      .filter(x => x.tBodies[0].rows.length >= 3)[t].tHead.rows[0].cells[c], target);
    await handle.asElement().click();
  };
  const before = await read();
  await header();
  const ascending = await read();
  await header();
  const descending = await read();
  return { found: true, header: target.header, before, ascending, descending };
}
