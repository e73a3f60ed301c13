import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
// template:backend:begin
import { waitFor } from "@testing-library/react";
// template:backend:end
import { App } from "./App";
import type { Client } from "./client";
// template:host-binaries:begin
import type { HostFacts } from "./api";
// template:host-binaries:end

afterEach(cleanup);

// template:host-binaries:begin
const hostFacts: HostFacts = {
  version: "0.1.0",
  os: "macos",
  os_version: "macOS 15.1",
  arch: "aarch64",
  cpus: 10,
  hostname: "studio",
  tools: [
    { name: "docker", found: true, version: "Docker version 28.2.2" },
    { name: "kubectl", found: false, version: null },
  ],
};
// template:host-binaries:end

/** A stand-in for Docker Desktop's client: each call answers what the test says. */
function standIn(answers: { get?: () => Promise<unknown>; exec?: () => Promise<unknown> }) {
  const toast = { success: vi.fn(), warning: vi.fn(), error: vi.fn() };
  const get = vi.fn(answers.get ?? (() => Promise.resolve({})));
  const exec = vi.fn(answers.exec ?? (() => Promise.resolve({ stdout: "", stderr: "", code: 0 })));
  const client = {
    extension: { vm: { service: { get } }, host: { cli: { exec } } },
    desktopUI: { toast },
  } as unknown as Client;
  return { client, get, exec, toast };
}

describe("App", () => {
  it("shows the extension's title", () => {
    render(<App client={standIn({}).client} />);
    expect(screen.getByRole("heading", { level: 3 }).textContent).toBe("Rust Starter");
  });

  // template:backend:begin
  it("calls the backend and shows its answer", async () => {
    const { client, get } = standIn({
      get: () => Promise.resolve({ message: "Hello from the Rust backend", version: "0.1.0", arch: "x86_64", os: "linux" }),
    });
    render(<App client={client} />);
    fireEvent.click(screen.getByRole("button", { name: "Call the backend" }));
    const panel = within(screen.getByTestId("backend"));
    expect(await panel.findByText("Hello from the Rust backend")).toBeTruthy();
    expect(panel.getByText("x86_64 (linux)")).toBeTruthy();
    expect(get).toHaveBeenCalledWith("/hello");
  });
  // template:backend:end

  // template:host-binaries:begin
  it("runs the host binary with --json and shows what it parsed", async () => {
    const { client, exec } = standIn({
      exec: () => Promise.resolve({ stdout: JSON.stringify(hostFacts), stderr: "", code: 0 }),
    });
    render(<App client={client} />);
    fireEvent.click(screen.getByRole("button", { name: "Run hostinfo" }));
    const panel = within(screen.getByTestId("host"));
    expect(await panel.findByText("macOS 15.1")).toBeTruthy();
    expect(panel.getByText("aarch64, 10 cores")).toBeTruthy();
    expect(panel.getByText("Docker version 28.2.2")).toBeTruthy();
    expect(panel.getByText("not found")).toBeTruthy();
    expect(exec).toHaveBeenCalledWith("hostinfo", ["--json"]);
  });
  // template:host-binaries:end

  // template:backend:begin
  it("shows a loading state while a call runs", async () => {
    let answer: (value: unknown) => void = () => {};
    const { client } = standIn({ get: () => new Promise((resolve) => (answer = resolve)) });
    render(<App client={client} />);
    const button = screen.getByRole("button", { name: "Call the backend" });
    fireEvent.click(button);
    expect(await screen.findByLabelText("Loading")).toBeTruthy();
    expect((button as HTMLButtonElement).disabled).toBe(true);
    answer({ message: "done", version: "1", arch: "x", os: "y" });
    await waitFor(() => expect(screen.queryByLabelText("Loading")).toBeNull());
    expect((button as HTMLButtonElement).disabled).toBe(false);
  });

  it("shows a failed backend call inline and as a toast", async () => {
    const { client, toast } = standIn({
      get: () => Promise.reject({ message: "connect ECONNREFUSED backend.sock", statusCode: 500 }),
    });
    render(<App client={client} />);
    fireEvent.click(screen.getByRole("button", { name: "Call the backend" }));
    const alert = await within(screen.getByTestId("backend")).findByRole("alert");
    expect(alert.textContent).toContain("connect ECONNREFUSED backend.sock (status 500)");
    expect(toast.error).toHaveBeenCalledWith("Calling the backend failed: connect ECONNREFUSED backend.sock (status 500)");
  });
  // template:backend:end

  // template:host-binaries:begin
  it("reports a host binary that fails or prints something other than JSON", async () => {
    const { client, toast } = standIn({ exec: () => Promise.resolve({ stdout: "", stderr: "hostinfo: boom\n", code: 2 }) });
    render(<App client={client} />);
    fireEvent.click(screen.getByRole("button", { name: "Run hostinfo" }));
    const alert = await within(screen.getByTestId("host")).findByRole("alert");
    expect(alert.textContent).toBe("hostinfo exited with code 2: hostinfo: boom");
    expect(toast.error).toHaveBeenCalledTimes(1);

    cleanup();
    const second = standIn({ exec: () => Promise.resolve({ stdout: "OS: linux", stderr: "", code: 0 }) });
    render(<App client={second.client} />);
    fireEvent.click(screen.getByRole("button", { name: "Run hostinfo" }));
    const notJson = await within(screen.getByTestId("host")).findByRole("alert");
    expect(notJson.textContent).toContain("printed something that is not JSON: OS: linux");
  });
  // template:host-binaries:end
});
