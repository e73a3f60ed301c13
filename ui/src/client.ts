// The part of Docker Desktop's extension API this UI uses. Typed narrowly so the tests,
// and the browser harness, can stand in for Docker Desktop with a small object.
import type { v1 } from "@docker/extension-api-client-types";

export type Client = Pick<v1.DockerDesktopClient, "extension" | "desktopUI">;

// template:contract:begin
// The backend's answers and the host binaries' JSON: generated from their Rust types (the
// api/ crate) by `cargo xtask dist` and `dev`. Never write these types by hand here.
// template:contract:end
// template:backend:begin
import type { Hello } from "./api";
// template:backend:end
// template:host-binaries:begin
import type { HostFacts } from "./api";
// template:host-binaries:end


// template:host-binaries:begin
/** The host binary's name: Docker Desktop adds `.exe` on Windows. */
export const HOST_BINARY = "hostinfo";
// template:host-binaries:end

// template:backend:begin
export async function callBackend(client: Client): Promise<Hello> {
  const service = client.extension.vm?.service;
  if (!service) throw new Error("This extension has no backend service.");
  const answer = (await service.get("/hello")) as Hello;
  if (typeof answer?.message !== "string") {
    throw new Error(`The backend answered something unexpected: ${JSON.stringify(answer)}`);
  }
  return answer;
}
// template:backend:end

// template:host-binaries:begin
export async function runHostBinary(client: Client): Promise<HostFacts> {
  const cli = client.extension.host?.cli;
  if (!cli) throw new Error("This extension has no host binaries.");
  const result = await cli.exec(HOST_BINARY, ["--json"]);
  if (result.code !== undefined && result.code !== 0) {
    throw new Error(`${HOST_BINARY} exited with code ${result.code}: ${result.stderr.trim()}`);
  }
  try {
    return JSON.parse(result.stdout) as HostFacts;
  } catch {
    throw new Error(`${HOST_BINARY} printed something that is not JSON: ${result.stdout.slice(0, 200)}`);
  }
}
// template:host-binaries:end

/** Docker Desktop rejects with objects as well as Errors: make a sentence of either. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null) {
    const e = error as { message?: unknown; stderr?: unknown; statusCode?: unknown };
    const text = [e.message, e.stderr].find((v) => typeof v === "string" && v.trim() !== "");
    if (typeof text === "string") {
      return typeof e.statusCode === "number" ? `${text} (status ${e.statusCode})` : text;
    }
    return JSON.stringify(error);
  }
  return String(error);
}
