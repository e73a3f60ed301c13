// The harness: runs the UI in a plain browser, standing in for Docker Desktop.
// It serves the UI with a `window.ddClient` whose
//   extension.vm.service.*    go to the real backend, over its Unix socket,
//   extension.host.cli.exec   runs the real host binaries built for this machine,
//   docker.cli.exec           runs the local docker CLI,
//   desktopUI.toast.*         show (and record) toasts on the page,
//   host.platform / host.arch report this machine.
// One stand-in, used two ways: this server serves the *built* UI (the browser test, and
// `npm run harness -- --socket S --host-bin DIR`), and `harness()` in vite-plugin.mjs adds
// the same ddClient and endpoints to Vite's dev server (`cargo xtask dev --browser`).
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import os from "node:os";

export const CLIENT_PATH = "/__harness/ddclient.js";

/** The ddClient injected into the page: a small stand-in for Docker Desktop's. */
export function clientScript() {
  const platform = JSON.stringify(os.platform());
  const arch = JSON.stringify(os.arch());
  return `(() => {
  async function post(url, payload) {
    const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(payload) });
    const answer = await response.json();
    if (!response.ok) throw answer;
    return answer;
  }
  // Like Docker Desktop: resolve with the parsed JSON body, reject when the status is an error.
  async function service(method, path, body) {
    const answer = await post("/__harness/vm", { method, path, body });
    let data;
    try { data = JSON.parse(answer.body); } catch { data = answer.body; }
    if (answer.status >= 400) {
      throw { name: "HttpError", statusCode: answer.status, message: (data && data.error) || answer.body };
    }
    return data;
  }
  function toast(kind) {
    return (message) => {
      let area = document.getElementById("harness-toasts");
      if (!area) {
        area = document.createElement("div");
        area.id = "harness-toasts";
        area.style.cssText = "position:fixed;bottom:16px;right:16px;display:flex;flex-direction:column;gap:8px;z-index:9999";
        document.body.appendChild(area);
      }
      const item = document.createElement("div");
      item.dataset.toast = kind;
      item.textContent = message;
      item.style.cssText = "padding:8px 12px;border-radius:4px;color:#fff;font:14px sans-serif;background:" +
        ({ success: "#2e7d32", warning: "#ed6c02", error: "#d32f2f" })[kind];
      area.appendChild(item);
    };
  }
  // Docker Desktop injects its MUI theme options; @docker/docker-mui-theme reads them.
  const docker = { main: "#1d63ed", dark: "#0c4dcc", light: "#4f85f3" };
  window.__ddMuiV6Themes = {
    light: { palette: { mode: "light", primary: docker, background: { default: "#f4f4f6", paper: "#ffffff" } }, shape: { borderRadius: 4 } },
    dark: { palette: { mode: "dark", primary: docker, background: { default: "#202124", paper: "#2e2f32" } }, shape: { borderRadius: 4 } },
  };
  window.ddClient = {
    extension: {
      image: "harness",
      vm: {
        service: {
          get: (path) => service("GET", path),
          post: (path, body) => service("POST", path, body),
          put: (path, body) => service("PUT", path, body),
          patch: (path, body) => service("PATCH", path, body),
          delete: (path) => service("DELETE", path),
          request: (config) => service(config.method, config.url, config.data),
        },
      },
      host: {
        cli: {
          exec: async (name, args, options) => {
            const result = await post("/__harness/exec", { name, args: args || [] });
            if (options && options.stream) {
              const stream = options.stream;
              for (const line of result.stdout.split("\\n").filter(Boolean)) stream.onOutput && stream.onOutput({ stdout: line });
              for (const line of result.stderr.split("\\n").filter(Boolean)) stream.onOutput && stream.onOutput({ stderr: line });
              stream.onClose && stream.onClose(result.code);
            }
            return result;
          },
        },
      },
    },
    docker: {
      cli: {
        exec: (command, args) => post("/__harness/docker", { args: [command, ...(args || [])] }),
      },
    },
    desktopUI: { toast: { success: toast("success"), warning: toast("warning"), error: toast("error") } },
    host: { platform: ${platform}, arch: ${arch} },
  };
})();
`;
}

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".woff2": "font/woff2",
};

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on("data", (c) => chunks.push(c));
    request.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString() || "{}"));
      } catch (e) {
        reject(e);
      }
    });
    request.on("error", reject);
  });
}

function sendJson(response, status, value) {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(value));
}

/** How long a refused connection is retried: the dev loop restarts the backend. */
const RETRY_MS = 3000;
const RETRIED = new Set(["ECONNREFUSED", "ENOENT", "ECONNRESET", "EPIPE"]);

/**
 * Forwards one request to the backend: `backend` is its Unix socket's path, or the
 * `http://127.0.0.1:PORT` of the dev relay that reaches a backend container. A refused
 * connection (the backend is restarting) is retried for a moment before it is an error.
 */
async function toBackend(backend, request) {
  const start = Date.now();
  for (;;) {
    try {
      return await toBackendOnce(backend, request);
    } catch (error) {
      if (!RETRIED.has(error.code) || Date.now() - start > RETRY_MS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function toBackendOnce(backend, { method, path: urlPath, body }) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) };
    const where = backend.startsWith("http://")
      ? { host: new URL(backend).hostname, port: Number(new URL(backend).port) }
      : { socketPath: backend };
    const request = http.request({ ...where, method, path: urlPath, headers }, (response) => {
      const chunks = [];
      response.on("data", (c) => chunks.push(c));
      response.on("end", () => resolve({ status: response.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    request.on("error", reject);
    request.end(payload);
  });
}

/** Runs a host binary from `hostBinDir` by base name, as Docker Desktop does. */
function execHostBinary(hostBinDir, name, args) {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith(".")) {
    return Promise.reject(new Error(`not a host binary name: ${name}`));
  }
  return run(path.join(hostBinDir, process.platform === "win32" ? `${name}.exe` : name), args);
}

/** Runs a program with arguments (never through a shell); resolves to {stdout, stderr, code}. */
function run(file, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args.map(String), { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ stdout, stderr, code }));
  });
}

/** The page's `<head>` with the client loaded first, before the UI's own scripts. */
export function injectClient(html) {
  return html.replace("<head>", `<head><script src="${CLIENT_PATH}"></script>`);
}

/**
 * Answers the harness's own requests (the client script, the backend, the host binaries,
 * docker); `true` when it did, `false` for any other request. `socket` and `hostBinDir`
 * may be functions, read on each request (the dev loop restarts the backend).
 */
export async function handleHarness(request, response, { socket, hostBinDir }) {
  const url = new URL(request.url, "http://harness");
  const value = (v) => (typeof v === "function" ? v() : v);
  try {
    if (url.pathname === CLIENT_PATH) {
      response.writeHead(200, { "content-type": "text/javascript" });
      response.end(clientScript());
      return true;
    }
    if (url.pathname === "/__harness/vm" && request.method === "POST") {
      sendJson(response, 200, await toBackend(value(socket), await readBody(request)));
      return true;
    }
    if (url.pathname === "/__harness/exec" && request.method === "POST") {
      const { name, args } = await readBody(request);
      sendJson(response, 200, await execHostBinary(value(hostBinDir), name, args || []));
      return true;
    }
    if (url.pathname === "/__harness/docker" && request.method === "POST") {
      const { args } = await readBody(request);
      if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === "string")) {
        sendJson(response, 400, { name: "HarnessError", message: "docker.cli.exec takes a command and string arguments" });
        return true;
      }
      sendJson(response, 200, await run("docker", args));
      return true;
    }
  } catch (error) {
    sendJson(response, 502, { name: "HarnessError", message: error?.message ?? String(error) });
    return true;
  }
  return false;
}

/**
 * Starts the harness. `uiDir`: the built UI. `socket`: the backend's socket.
 * `hostBinDir`: a folder holding the host binaries. Resolves to { url, close }.
 */
export function startHarness({ uiDir, socket, hostBinDir, port = 0, host = "127.0.0.1" }) {
  const root = path.resolve(uiDir);
  const server = http.createServer(async (request, response) => {
    const url = new URL(request.url, "http://harness");
    try {
      if (await handleHarness(request, response, { socket, hostBinDir })) return;
      const relative = url.pathname === "/" ? "index.html" : decodeURIComponent(url.pathname).replace(/^\/+/, "");
      const file = path.resolve(root, relative);
      if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
        response.writeHead(404, { "content-type": "text/plain" });
        return response.end(`not found: ${url.pathname}`);
      }
      let content = fs.readFileSync(file);
      if (path.basename(file) === "index.html") {
        // The client must exist before the UI's own scripts run.
        content = injectClient(content.toString());
      }
      response.writeHead(200, { "content-type": TYPES[path.extname(file)] || "application/octet-stream" });
      response.end(content);
    } catch (error) {
      sendJson(response, 502, { name: "HarnessError", message: error?.message ?? String(error) });
    }
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(port, host, () => {
      const { port: actual } = server.address();
      resolve({ url: `http://${host}:${actual}/`, close: () => new Promise((done) => server.close(done)) });
    });
  });
}

function parseArgs(argv) {
  const options = { uiDir: "dist", port: 3001 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--ui") (options.uiDir = value), i++;
    else if (flag === "--socket") (options.socket = value), i++;
    else if (flag === "--host-bin") (options.hostBinDir = value), i++;
    else if (flag === "--port") (options.port = Number(value)), i++;
    else throw new Error(`unexpected argument ${flag}`);
  }
  if (!options.socket || !options.hostBinDir) {
    throw new Error("usage: node harness/server.mjs --socket BACKEND_SOCKET --host-bin HOST_BINARIES_DIR [--ui dist] [--port 3001]");
  }
  return options;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const harness = await startHarness(parseArgs(process.argv.slice(2)));
    console.log(`The extension's UI, standing in for Docker Desktop: ${harness.url}`);
  } catch (error) {
    console.error(`harness: ${error.message}`);
    process.exit(2);
  }
}
