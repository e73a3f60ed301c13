// Generated from the Rust types of the package `rust-starter-api` (its `typescript` example,
// ts-rs) by `cargo xtask dist`, `dev` and `contract`. Do not edit: change the Rust
// types. The extension's tests fail when this file is not what they give.

/**
 * The backend's `GET /hello` answer.
 */
export type Hello = { message: string, 
/**
 * The backend's own version.
 */
version: string, 
/**
 * The CPU the backend runs on: the image variant Docker Desktop pulled.
 */
arch: string, os: string, };

/**
 * The body of `POST /echo`.
 */
export type EchoRequest = { 
/**
 * 1 to 1000 characters, after trimming.
 */
message: string, };

/**
 * The answer of `POST /echo`.
 */
export type EchoResponse = { 
/**
 * The message, trimmed.
 */
message: string, 
/**
 * Its length in characters.
 */
length: number, };

/**
 * Every error the backend answers, whatever the route.
 */
export type ApiError = { 
/**
 * What went wrong, as a sentence.
 */
error: string, 
/**
 * The HTTP status, repeated.
 */
status: number, };

/**
 * What `hostinfo --json` prints: facts about the user's machine.
 */
export type HostFacts = { 
/**
 * The host binary's own version.
 */
version: string, 
/**
 * `macos`, `windows` or `linux`.
 */
os: string, 
/**
 * The OS's name and version, e.g. "macOS 15.1", when it could be read.
 */
os_version: string | null, 
/**
 * `x86_64` or `aarch64`.
 */
arch: string, cpus: number, hostname: string | null, 
/**
 * The tools looked for on PATH, in the order asked.
 */
tools: Array<ToolFact>, };

/**
 * One tool looked for on the user's PATH.
 */
export type ToolFact = { name: string, found: boolean, 
/**
 * The first line of its version output.
 */
version: string | null, };
