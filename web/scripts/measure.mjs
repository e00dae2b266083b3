#!/usr/bin/env node
// Measures the web client's weight and first load against a running server:
//
//   node scripts/measure.mjs http://127.0.0.1:18080 [runs]
//
// - bundle: the bytes of web/dist as sent (gzip twins for JS/CSS, index.html gzipped here);
// - first load of /login in a fresh Chromium profile (empty cache), median of N runs, on the
//   plain loopback network and with "slow 4G" emulation (150 ms RTT, 1.6 Mbit/s down) plus 4x
//   CPU slowdown: navigation response end, DOMContentLoaded, load, first contentful paint
//   (the page is blank until the app renders its first screen, so FCP is "app visible"), and
//   the bytes transferred.
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const runs = Number(process.argv[3] ?? 7);
const dist = new URL('../dist/', import.meta.url).pathname;

const sizes = [];
const html = readFileSync(dist + 'index.html');
sizes.push(['index.html', html.length, gzipSync(html, { level: 9 }).length]);
for (const f of readdirSync(dist + 'assets').sort()) {
  if (f.endsWith('.gz')) continue;
  const raw = readFileSync(dist + 'assets/' + f).length;
  let gz;
  try {
    gz = readFileSync(dist + 'assets/' + f + '.gz').length;
  } catch {
    gz = raw;
  }
  sizes.push([`assets/${f}`, raw, gz]);
}
console.log('| file | raw bytes | gzip bytes |\n|---|---:|---:|');
for (const [f, r, g] of sizes) console.log(`| ${f} | ${r} | ${g} |`);
const tot = sizes.reduce((a, [, r, g]) => [a[0] + r, a[1] + g], [0, 0]);
console.log(`| **total** | ${tot[0]} | ${tot[1]} |\n`);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function once(throttle) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  if (throttle) {
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 150,
      downloadThroughput: (1.6 * 1024 * 1024) / 8,
      uploadThroughput: (750 * 1024) / 8,
    });
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
  }
  await page.goto(base + '/login', { waitUntil: 'load' });
  await page.waitForSelector('form.login-box');
  const m = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const res = performance.getEntriesByType('resource');
    return {
      responseEnd: nav.responseEnd,
      dcl: nav.domContentLoadedEventEnd,
      load: nav.loadEventEnd,
      fcp: fcp ? fcp.startTime : NaN,
      bytes: nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0),
    };
  });
  await ctx.close();
  return m;
}

for (const [label, throttle] of [
  ['loopback', false],
  ['slow 4G + 4x CPU', true],
]) {
  const all = [];
  for (let i = 0; i < runs; i++) all.push(await once(throttle));
  const pick = (k) => median(all.map((m) => m[k]));
  console.log(
    `${label} (median of ${runs}): response end ${pick('responseEnd').toFixed(0)} ms, DOMContentLoaded ${pick('dcl').toFixed(0)} ms, ` +
      `load ${pick('load').toFixed(0)} ms, first contentful paint ${pick('fcp').toFixed(0)} ms, transferred ${pick('bytes')} bytes`,
  );
}
await browser.close();
