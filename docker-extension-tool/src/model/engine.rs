//! The image engines dist drives, as a choice: what `--engine` and the machine's probe name.

use std::fmt;

use crate::model::reference::BaseImage;

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

    /// Whether it can build an image from `base` (the rule, in one place: the plan asks it
    /// before anything compiles, the builtin writer again before it writes).
    pub(crate) fn builds_from(self, base: &BaseImage) -> anyhow::Result<()> {
        match (self, base) {
            (Engine::Builtin, BaseImage::Image(reference)) => anyhow::bail!(
                "the builtin engine writes `FROM scratch` images only, and base-image is `{reference}`: \
                 build with buildx, buildah or podman (--engine), or leave base-image out"
            ),
            _ => Ok(()),
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
