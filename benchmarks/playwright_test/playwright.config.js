// Contender (d): Playwright Test on the same Chromium, site and CSV as the others.
// The benchmark sets BENCH_* variables; workers come from the command line (--workers).
const { defineConfig } = require('@playwright/test');

module.exports = defineConfig({
  testDir: '.',
  testMatch: 'form.spec.js',
  fullyParallel: true, // rows of the one file are spread over all workers
  retries: 0,
  reporter: [['json', { outputFile: process.env.BENCH_JSON || 'results.json' }]],
  use: {
    baseURL: process.env.BENCH_URL,
    headless: true,
    trace: 'off',
    screenshot: 'off',
    video: 'off',
    viewport: { width: 1280, height: 720 },
    launchOptions: {
      executablePath: process.env.BENCH_CHROMIUM,
      args: (process.env.BENCH_CHROMIUM_ARGS || '').split(' ').filter(Boolean),
    },
  },
});
