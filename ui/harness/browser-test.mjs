// The browser test: headless Chromium loads the *built* UI through the harness, which
// forwards to the real backend process (on a temp socket) and the real host binary.
// `cargo xtask test` builds both for this machine and runs this with
//   BACKEND_BIN=path/to/backend HOST_BIN_DIR=folder/with/host/binaries CHROMIUM=path/to/browser
// or, where the backend cannot run (Windows: it serves a Unix socket, for Docker Desktop's
// Linux VM), NO_BACKEND=1 instead of BACKEND_BIN: the backend's part is skipped.
// Optional: SCREENSHOT (default ../target/ui-screenshot.png).
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startHarness } from "./server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const uiDir = path.resolve(here, "..");
const backendBin = process.env.BACKEND_BIN;
const hostBinDir = process.env.HOST_BIN_DIR;
let hasBackend = false;
// template:backend:begin
hasBackend = !process.env.NO_BACKEND;
// template:backend:end
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const screenshot = path.resolve(process.env.SCREENSHOT || path.join(uiDir, "..", "target", "ui-screenshot.png"));
// template:host-binaries:begin
const HOST_BINARY = "hostinfo";
// template:host-binaries:end

function fail(message) {
  console.error(`browser test: ${message}`);
  process.exit(1);
}

if ((hasBackend && !backendBin) || !hostBinDir) {
  fail("set BACKEND_BIN and HOST_BIN_DIR (the backend and the host binaries built for this machine), or run `cargo xtask test`");
}
if (!fs.existsSync(path.join(uiDir, "dist", "index.html"))) fail("ui/dist/index.html is missing: run `npm run build` first");
if (!fs.existsSync(chromiumPath)) fail(`${chromiumPath} is missing: run \`cargo xtask setup --for-tests\` (installs Debian's chromium)`);

function waitForSocket(socket, timeoutMs = 10000) {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const connection = net.createConnection(socket, () => {
        connection.end();
        resolve();
      });
      connection.on("error", () => {
        if (Date.now() - start > timeoutMs) reject(new Error(`the backend did not listen on ${socket}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

const temp = fs.mkdtempSync(path.join(os.tmpdir(), "ui-browser-test-"));
const socket = path.join(temp, "backend.sock");
let backend;
let backendLog = "";
let backendExited;
// template:backend:begin
if (hasBackend) {
  backend = spawn(backendBin, ["--socket", socket], { stdio: ["ignore", "ignore", "pipe"] });
  backend.stderr.on("data", (d) => (backendLog += d));
  backendExited = new Promise((resolve) => backend.on("exit", resolve));
}
// template:backend:end

let browser;
let harness;
try {
  // template:backend:begin
  if (hasBackend) await waitForSocket(socket);
  // template:backend:end
  harness = await startHarness({ uiDir: path.join(uiDir, "dist"), socket, hostBinDir });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  // 1200x800 at 2x: 2400x1600, the Marketplace's recommended screenshot size.
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 }, deviceScaleFactor: 2 });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(harness.url);

  await page.getByRole("heading", { level: 3 }).waitFor({ timeout: 10000 });

  // template:backend:begin
  const backendPanel = page.getByTestId("backend");
  if (hasBackend) {
    await page.getByRole("button", { name: "Call the backend" }).click();
    await backendPanel.getByText("Hello from the Rust backend").waitFor({ timeout: 10000 });
    await backendPanel.getByText(`${os.arch() === "arm64" ? "aarch64" : "x86_64"} (linux)`).waitFor();
  }
  // template:backend:end

  // template:host-binaries:begin
  // What the real host binary says, to compare with what the page shows.
  const expected = JSON.parse(execFileSync(path.join(hostBinDir, HOST_BINARY), ["--json"]).toString());
  await page.getByRole("button", { name: `Run ${HOST_BINARY}` }).click();
  const hostPanel = page.getByTestId("host");
  await hostPanel.getByText(`${expected.arch}, ${expected.cpus} cores`).waitFor({ timeout: 20000 });
  await hostPanel.getByText(expected.os_version ?? expected.os, { exact: true }).waitFor();
  for (const tool of expected.tools) {
    await hostPanel.getByRole("row", { name: new RegExp(`^${tool.name}\\b`) }).waitFor();
  }
  // template:host-binaries:end
  fs.mkdirSync(path.dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot });
  assert.ok(fs.statSync(screenshot).size > 10000, "the screenshot has content");

  // template:backend:begin
  if (hasBackend) {
    // A stopped backend: the page shows the failure inline and as a toast, never blank.
    backend.kill("SIGTERM");
    assert.equal(await backendExited, 0, "the backend exits cleanly on SIGTERM");
    await page.getByRole("button", { name: "Call the backend" }).click();
    const alert = backendPanel.getByRole("alert");
    await alert.waitFor({ timeout: 10000 });
    const alertText = await alert.textContent();
    assert.match(alertText, /ENOENT|ECONNREFUSED/, `the error names the failed connection: ${alertText}`);
    const toast = await page.locator("[data-toast=error]").first().textContent();
    assert.match(toast, /^Calling the backend failed: /);
    assert.ok(await page.getByRole("heading", { level: 3 }).isVisible(), "the page still works");
    assert.match(backendLog, /GET \/hello 200/, "the backend logged the page's request");
  }
  // template:backend:end
  assert.deepEqual(pageErrors, [], "no uncaught errors in the page");
  console.log(`browser test: ok (screenshot: ${screenshot})`);
} catch (error) {
  console.error(`browser test failed: ${error.stack || error}`);
  console.error(`backend log:\n${backendLog}`);
  process.exitCode = 1;
} finally {
  await browser?.close();
  await harness?.close();
  backend?.kill("SIGKILL");
  fs.rmSync(temp, { recursive: true, force: true });
}
