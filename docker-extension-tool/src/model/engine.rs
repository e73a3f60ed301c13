//! The image engines dist drives, as a choice: what `--engine` and the machine's probe name.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    /// `docker buildx build`: Docker Desktop's builder (BuildKit).
    Buildx,
    /// `podman build --manifest`: no daemon.
    Podman,
    /// `buildah build --manifest`: no daemon.
    Buildah,
    /// dist writes the image itself (see `builtin`): no engine at all, reproducible.
    Builtin,
}

impl Engine {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Engine::Buildx => "buildx",
            Engine::Podman => "podman",
            Engine::Buildah => "buildah",
            Engine::Builtin => "builtin",
        }
    }

    pub(crate) fn program(self) -> &'static str {
        match self {
            Engine::Buildx | Engine::Builtin => "docker",
            Engine::Podman => "podman",
            Engine::Buildah => "buildah",
        }
    }
}

impl std::str::FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Engine, String> {
        match s {
            "buildx" | "docker" => Ok(Engine::Buildx),
            "podman" => Ok(Engine::Podman),
            "buildah" => Ok(Engine::Buildah),
            "builtin" => Ok(Engine::Builtin),
            _ => Err("not an image builder this tool drives; use buildx, buildah, podman or builtin".into()),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
