//! The contract between the extension's parts: the JSON the backend answers and accepts,
//! and what each host binary prints with `--json`, as Rust types. The backend and the host
//! binaries serialize these very types; the UI's TypeScript for them (`ui/src/api.ts`) is
//! generated from them with ts-rs by `cargo xtask dist` and `dev`, so renaming a field here
//! breaks the UI's type check, not the page in Docker Desktop.
//!
//! Plain data with serde, no `cfg(unix)`: this crate builds on every OS (the host binaries
//! run on the user's macOS, Windows or Linux machine). Numbers the UI reads are `u32` or
//! smaller: ts-rs writes 64-bit integers as `bigint`, which `JSON.parse` never gives.

use serde::{Deserialize, Serialize};

// template:backend:begin
/// The backend's `GET /hello` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Hello {
    pub message: String,
    /// The backend's own version.
    pub version: String,
    /// The CPU the backend runs on: the image variant Docker Desktop pulled.
    pub arch: String,
    pub os: String,
}

/// The body of `POST /echo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct EchoRequest {
    /// 1 to 1000 characters, after trimming.
    pub message: String,
}

/// The answer of `POST /echo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct EchoResponse {
    /// The message, trimmed.
    pub message: String,
    /// Its length in characters.
    pub length: u32,
}

/// Every error the backend answers, whatever the route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ApiError {
    /// What went wrong, as a sentence.
    pub error: String,
    /// The HTTP status, repeated.
    pub status: u16,
}
// template:backend:end

// template:host-binaries:begin
/// What `hostinfo --json` prints: facts about the user's machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct HostFacts {
    /// The host binary's own version.
    pub version: String,
    /// `macos`, `windows` or `linux`.
    pub os: String,
    /// The OS's name and version, e.g. "macOS 15.1", when it could be read.
    pub os_version: Option<String>,
    /// `x86_64` or `aarch64`.
    pub arch: String,
    pub cpus: u32,
    pub hostname: Option<String>,
    /// The tools looked for on PATH, in the order asked.
    pub tools: Vec<ToolFact>,
}

/// One tool looked for on the user's PATH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ToolFact {
    pub name: String,
    pub found: bool,
    /// The first line of its version output.
    pub version: Option<String>,
}
// template:host-binaries:end

/// The TypeScript declaration of each type above, in order: what `ui/src/api.ts` holds
/// after its header. A new type of the contract goes here too.
#[cfg(feature = "typescript")]
pub fn typescript() -> String {
    let mut out = String::new();
    // template:backend:begin
    declare::<Hello>(&mut out);
    declare::<EchoRequest>(&mut out);
    declare::<EchoResponse>(&mut out);
    declare::<ApiError>(&mut out);
    // template:backend:end
    // template:host-binaries:begin
    declare::<HostFacts>(&mut out);
    declare::<ToolFact>(&mut out);
    // template:host-binaries:end
    out
}

/// One exported declaration with its doc comment, as ts-rs writes it to a file of its own.
#[cfg(feature = "typescript")]
fn declare<T: ts_rs::TS>(out: &mut String) {
    let config = ts_rs::Config::new();
    out.push('\n');
    if let Some(docs) = T::docs() {
        out.push_str(&docs);
    }
    out.push_str("export ");
    out.push_str(&T::decl(&config));
    out.push('\n');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    // template:host-binaries:begin
    #[test]
    fn host_facts_read_back_from_json() {
        let json = r#"{"version":"1.0.0","os":"macos","os_version":null,"arch":"aarch64","cpus":8,
            "hostname":"mac","tools":[{"name":"git","found":true,"version":"git version 2.47.0"}]}"#;
        let facts: super::HostFacts = serde_json::from_str(json).unwrap();
        assert_eq!(facts.cpus, 8);
        assert_eq!(facts.tools[0].version.as_deref(), Some("git version 2.47.0"));
    }
    // template:host-binaries:end

    #[cfg(feature = "typescript")]
    #[test]
    fn every_type_is_declared_once() {
        let ts = super::typescript();
        // template:backend:begin
        assert_eq!(ts.matches("export type Hello = ").count(), 1, "{ts}");
        // template:backend:end
        // template:host-binaries:begin
        assert!(ts.contains("os_version: string | null"), "{ts}");
        // template:host-binaries:end
    }
}
