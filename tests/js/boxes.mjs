// Open report.html in Debian's headless Chromium at each width and measure, per table box, where its
// Flag header ends against the box's right edge and whether the table overflows the box; per
// timeline box, where it is scrolled to once the page has loaded (tests/test_browser_report.py).
// Usage: node boxes.mjs FILE.html WIDTH...   -> one JSON object on stdout: {width: {tables, timelines}}
import { chromium } from 'playwright-core';

const [file, ...widths] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.DOSING_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const found = {};
try {
  for (const width of widths.map(Number)) {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    await page.goto('file://' + file, { waitUntil: 'load' });
    found[width] = await page.evaluate(() => ({
      tables: [...document.querySelectorAll('.box')].map(box => {
        const flag = [...box.querySelectorAll('th')].find(th => th.textContent === 'Flag');
        return {
          section: box.closest('section') ? box.closest('section').id : '',
          flagRight: flag ? flag.getBoundingClientRect().right : null,
          boxRight: box.getBoundingClientRect().right,
          overflows: box.scrollWidth > box.clientWidth + 1,
        };
      }),
      timelines: [...document.querySelectorAll('section .plot')].map(plot => ({
        section: plot.closest('section').id,
        scrollLeft: plot.scrollLeft,
        clientWidth: plot.clientWidth,
        start: Number(plot.dataset.start ?? -1),
      })),
    }));
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(found));
