// Checks a running `cargo xtask dev --browser` in headless Chromium, as a developer uses it:
//   node harness/dev-check.mjs URL OLD_GREETING NEW_GREETING BACKEND_SOURCE
// Opens the page, calls the backend (expects OLD_GREETING) and runs the host binary; then
// edits BACKEND_SOURCE to say NEW_GREETING and, on the same page, calls the backend until
// the rebuilt backend answers with it (the dev loop rebuilds and restarts it: no manual
// step). The tests of `dev` (the tool's tests/tool/dev.rs) run it. The rebuild is a
// compile, whose time depends on the machine: DEV_CHECK_REBUILD_TIMEOUT_MS is its ceiling
// (default 3 minutes).
import fs from "node:fs";
import { chromium } from "playwright-core";

const [url, oldGreeting, newGreeting, source] = process.argv.slice(2);
if (!source) {
  console.error("usage: node harness/dev-check.mjs URL OLD_GREETING NEW_GREETING BACKEND_SOURCE");
  process.exit(2);
}
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(url);
  await page.getByRole("heading", { level: 3 }).waitFor({ timeout: 30000 });

  const backend = page.getByTestId("backend");
  await page.getByRole("button", { name: "Call the backend" }).click();
  await backend.getByText(oldGreeting).waitFor({ timeout: 20000 });

  await page.getByRole("button", { name: /^Run / }).click();
  await page.getByTestId("host").getByText(/(x86_64|aarch64), \d+ cores/).waitFor({ timeout: 20000 });

  const text = fs.readFileSync(source, "utf8");
  if (!text.includes(oldGreeting)) throw new Error(`${source} does not say ${oldGreeting}`);
  fs.writeFileSync(source, text.replace(oldGreeting, newGreeting));

  const deadline = Date.now() + Number(process.env.DEV_CHECK_REBUILD_TIMEOUT_MS || 180000);
  for (;;) {
    await page.getByRole("button", { name: "Call the backend" }).click();
    try {
      await backend.getByText(newGreeting).waitFor({ timeout: 1000 });
      break;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`the page never showed ${newGreeting}`);
    }
  }
  if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.join("; ")}`);
  console.log("dev check: ok");
} catch (error) {
  console.error(`dev check failed: ${error.stack || error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
