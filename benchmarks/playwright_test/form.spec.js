// One test per CSV row, as Playwright's docs show ("Create tests via a CSV file").
const fs = require('fs');
const { test, expect } = require('@playwright/test');
const { parse } = require('csv-parse/sync');

const records = parse(fs.readFileSync(process.env.BENCH_CSV), {
  columns: true,
  skip_empty_lines: true,
});

for (const [index, row] of records.entries()) {
  test(`row ${index + 1}: ${row.email}`, async ({ page }) => {
    await page.goto('/customers/new');
    await page.locator('#name').fill(row.name);
    await page.getByLabel('Email').fill(row.email);
    await page.locator('#plan').selectOption(row.plan);
    await page.getByPlaceholder('Anything else?').fill(row.notes);
    await page.locator('#terms').check();
    await page.getByRole('button', { name: 'Save customer' }).click();
    await expect(page.locator('.flash')).toContainText(`Saved ${row.name}`);
  });
}
