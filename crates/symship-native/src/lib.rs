//! Native debug files for PostHog error tracking: Apple dSYM bundles and Mach-O files (thin and
//! fat), and ELF files (`kinds-and-explain.md` §3, `posthog-protocol.md` §6).
//!
//! - [`discover`] walks a directory like posthog-cli 0.19.0's `symbol-sets upload` (loose ELF and
//!   Mach-O objects, `.dSYM` bundles, split DWARF) and [`discover::find_dsyms`] like its
//!   `dsym upload`; [`inspect`] reads one file's objects (each fat slice on its own) with the
//!   `object` crate: no external tool (`dwarfdump`, `lipo`), on any OS.
//! - [`id`] turns a GNU build id or an `LC_UUID` into the ref PostHog stores (ELF: symbolic's
//!   debug id, lower-case; Mach-O: the UUID, upper-case).
//! - [`Reason`] says why a file is not uploaded and what to do.
//! - [`package`] writes the payload zip (`dwarf` = the slice's bytes) into a temporary file,
//!   streamed, and unpacks one again.
//! - [`set::NativeSet`] is one slice as a symbol set of the upload pipeline (`AppleDsym` or
//!   `ElfDebugInfo`), its container built with flat memory.
//!
//! ```no_run
//! let found = symship_native::discover::discover(std::path::Path::new("target/release")).unwrap();
//! for s in &found.slices {
//!     println!("{} {} ({})", s.debug_id, s.path.display(), s.arch);
//! }
//! for s in &found.skipped {
//!     println!("{} {}: {}", s.reason.code(), s.path.display(), s.reason);
//! }
//! ```

pub mod discover;
pub mod id;
pub mod inspect;
pub mod package;
pub mod set;
pub mod source;

mod reason;

pub use discover::{discover, Bundle, Covered, Discovery, Skipped};
pub use inspect::{inspect, Finding, Format, Slice};
pub use reason::Reason;
pub use set::NativeSet;
