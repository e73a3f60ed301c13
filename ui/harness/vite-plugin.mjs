// The harness as a Vite plugin: Vite's dev server (hot reload) with the same stand-in
// ddClient and endpoints as server.mjs. `cargo xtask dev --browser` turns it on by setting
//   HARNESS_BACKEND_URL  the dev relay that reaches the backend's container, or
//   HARNESS_SOCKET       the backend's socket, when it runs as a local process
//   HARNESS_HOST_BIN     the folder of the host binaries built for this machine
import { handleHarness, injectClient } from "./server.mjs";

export function harness() {
  const socket = () => process.env.HARNESS_BACKEND_URL || process.env.HARNESS_SOCKET;
  const hostBinDir = () => process.env.HARNESS_HOST_BIN;
  return {
    name: "docker-desktop-harness",
    apply: "serve",
    configureServer(server) {
      server.middlewares.use(async (request, response, next) => {
        if (!(await handleHarness(request, response, { socket, hostBinDir }))) next();
      });
    },
    transformIndexHtml(html) {
      return injectClient(html);
    },
  };
}

/** Whether `cargo xtask dev --browser` asked for the harness. */
export const harnessRequested = () => Boolean(process.env.HARNESS_BACKEND_URL || process.env.HARNESS_SOCKET);
