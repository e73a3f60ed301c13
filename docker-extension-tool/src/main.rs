//! The tool on its own, for its tests (`cargo xtask` in an extension runs the same code
//! through the extension's xtask).

fn main() -> std::process::ExitCode {
    docker_extension_tool::main()
}
