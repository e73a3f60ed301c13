import type { Plugin } from "vite";

/** The Docker Desktop stand-in for Vite's dev server (see vite-plugin.mjs). */
export function harness(): Plugin;
export function harnessRequested(): boolean;
