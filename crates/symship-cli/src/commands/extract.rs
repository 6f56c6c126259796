//! `symship symbol-sets extract FILE -o DIR`: unpack a symbol-set container file offline, any kind,
//! into the files posthog-cli 0.19.0's `extract` writes (`kinds-and-explain.md` §3.6): base name =
//! the file name with one of `.js.map`, `.hbc.map`, `.map`, `.js`, `.txt`, `.dSYM` stripped;
//! SourceAndMap → `<base>.js` + `<base>.js.map`; HermesMap → `<base>.hbc.map`; ProguardMapping →
//! `<base>.txt`; AppleDsym / ElfDebugInfo → the directory `<base>/` with the zip's entries
//! (`dwarf`, `__source/...`; path components other than normal ones dropped).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _};
use posthog_symbol_data::{
    read_symbol_data, AppleDsym, ElfDebugInfo, HermesMap, ProguardMapping, SourceAndMap,
};

use crate::cli::{OutputFormat, SymbolSetExtractArgs};
use crate::commands::symbol_sets::safe_base_name;
use crate::exit::Exit;
use crate::manage::{print, print_json};
use crate::settings::Settings;

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    symship_fs::write(path, bytes).map_err(|e| anyhow!("could not write {}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}

/// The container's type tag (`posthog-protocol.md` §6), when it has a header.
fn type_tag(bytes: &[u8]) -> Option<u32> {
    let magic = b"posthog_error_tracking";
    (bytes.len() >= magic.len() + 8 && bytes.starts_with(magic))
        .then(|| u32::from_le_bytes(bytes[26..30].try_into().expect("4 bytes")))
}

pub fn extract(args: &SymbolSetExtractArgs, settings: &Settings) -> anyhow::Result<Exit> {
    let file = &args.file;
    let bytes = std::fs::read(file).with_context(|| format!("Failed to read file {}", file.display()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = safe_base_name(&name).unwrap_or_else(|| "symbol_set".into());
    symship_upload::container::check_declared_size(&bytes, symship_upload::container::MAX_DECOMPRESSED)
        .map_err(|e| anyhow!("{}: {e}", file.display()))?;
    if settings.global.dry_run {
        let tag = type_tag(&bytes).map_or("no container".to_string(), |t| format!("container type {t}"));
        print(
            &settings.printer,
            &format!(
                "--dry-run: would extract {} ({tag}) into {}\n",
                file.display(),
                args.out_dir.display()
            ),
        )?;
        return Ok(Exit::Success);
    }
    let bad = |e: posthog_symbol_data::SymbolDataError| {
        anyhow!("{}: Failed to parse symbol set: {e}", file.display())
    };
    let out = &args.out_dir;
    let mkdir = || {
        std::fs::create_dir_all(out)
            .with_context(|| format!("could not create the output directory {}", out.display()))
    };
    // The official reader, by the header's type (posthog-cli tries each type in turn).
    let (kind, written, what) = match type_tag(&bytes) {
        None => anyhow::bail!(
            "{} ({} bytes) is not a PostHog symbol-set container (no posthog_error_tracking header)",
            file.display(),
            bytes.len()
        ),
        Some(2) => {
            let d: SourceAndMap = read_symbol_data(&bytes).map_err(bad)?;
            mkdir()?;
            let js = write(&out.join(format!("{base}.js")), d.minified_source.as_bytes())?;
            let map = write(&out.join(format!("{base}.js.map")), d.sourcemap.as_bytes())?;
            ("SourceAndMap", vec![js, map], "source and sourcemap")
        }
        Some(3) => {
            let d: HermesMap = read_symbol_data(&bytes).map_err(bad)?;
            mkdir()?;
            (
                "HermesMap",
                vec![write(
                    &out.join(format!("{base}.hbc.map")),
                    d.sourcemap.as_bytes(),
                )?],
                "hermes sourcemap",
            )
        }
        Some(4) => {
            let d: ProguardMapping = read_symbol_data(&bytes).map_err(bad)?;
            mkdir()?;
            (
                "ProguardMapping",
                vec![write(&out.join(format!("{base}.txt")), d.content.as_bytes())?],
                "proguard mapping",
            )
        }
        Some(t @ (5 | 6)) => {
            let zip = if t == 5 {
                read_symbol_data::<AppleDsym>(&bytes).map_err(bad)?.data
            } else {
                read_symbol_data::<ElfDebugInfo>(&bytes).map_err(bad)?.data
            };
            drop(bytes);
            let files = symship_native::package::unzip_into(std::io::Cursor::new(zip), &out.join(&base))
                .map_err(|e| anyhow!("{}: {e}", file.display()))?;
            if t == 5 {
                ("AppleDsym", files, "dSYM")
            } else {
                ("ElfDebugInfo", files, "ELF debug info")
            }
        }
        Some(t) => anyhow::bail!("{}: Unknown symbol data type: {t}", file.display()),
    };
    for f in &written {
        tracing::info!("Wrote {}", f.display());
    }
    if settings.global.output == OutputFormat::Json {
        print_json(
            &settings.printer,
            &serde_json::json!({ "file": file, "kind": kind, "written": written }),
        )?;
    } else {
        print(
            &settings.printer,
            &format!("Extracted {what} to {}\n", out.display()),
        )?;
    }
    Ok(Exit::Success)
}
