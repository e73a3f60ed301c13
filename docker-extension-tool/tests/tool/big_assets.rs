//! An extension that ships a large asset (a model, a wasm bundle): dist streams it into
//! the context and the builtin image without holding it in memory, and `check` reads the
//! image back the same way.

use crate::common::fixture::Fixture;
use crate::common::*;

#[test]
fn a_one_gib_asset_goes_into_the_image_with_bounded_memory() {
    let fixture = Fixture::new("big-asset");
    // The UI build writes a 1 GiB file (sparse: no disk for it, but every byte is read).
    fixture.write(
        "ui/build.sh",
        "mkdir -p dist && echo '<html></html>' > dist/index.html && truncate -s 1G dist/model.bin\n",
    );
    fixture.edit(
        "Cargo.toml",
        "[workspace.metadata.extension.targets]",
        "[workspace.metadata.extension.ui]\ndir = \"ui\"\nbuild = [\"sh\", \"build.sh\"]\noutput = \"dist\"\n\n[workspace.metadata.extension.targets]",
    );
    let archive = fixture.root().join("big.tar");
    let context = fixture.context();
    let events = fixture.root().join("events.json");
    let mut command = fixture.builtin_dist(&archive);
    command.args(["--events", events.to_str().unwrap()]);
    run(&mut command).assert_ok();

    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&events).unwrap()).unwrap();
    let peak = report["peak_memory_bytes"].as_u64().unwrap();
    assert!(peak < MEMORY_BOUND, "dist held {} MiB", peak >> 20);
    eprintln!("dist with a 1 GiB asset: peak memory {} MiB", peak >> 20);
    let context_model = std::fs::metadata(context.join("ui/model.bin")).unwrap();
    assert_eq!(context_model.len(), 1 << 30);

    // check reads it back: the asset is there, in both variants, and memory stays bounded.
    let (output, peak) =
        run_measuring_memory(&mut xtask(fixture.root(), &["check", archive.to_str().unwrap()]));
    output.assert_ok();
    assert!(peak < MEMORY_BOUND, "check held {} MiB", peak >> 20);
    eprintln!("check of the image with a 1 GiB asset: peak memory {} MiB", peak >> 20);
    // The UI layer is shared: one blob, listed in each variant's sizes.
    let listing = run(std::process::Command::new("tar").arg("-tvf").arg(&archive));
    assert!(listing.assert_ok().stdout.lines().count() > 5);
}
