//! `docker-extension-registry`: the builtin engine's registry client (feature `registry`),
//! built on the first push; its code is the library's `registry` module.

fn main() -> std::process::ExitCode {
    docker_extension_tool::registry_client_main()
}
