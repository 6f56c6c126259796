//! What the management commands (`release list|get|delete|create`, `symbol-sets ...`, `doctor`)
//! share: finding a release by id or `NAME@VERSION`, checked UUIDs, ages and RFC 3339 times
//! (through `time`), tables and the JSON shapes of releases and symbol sets.

use std::str::FromStr;

use serde_json::{json, Value};
use symship_api::{Release, SymbolSet};

use crate::exit::UsageError;
use crate::printer::Printer;

/// The release named by `spec`: a release id (UUID), or `NAME@VERSION` (split at the last `@`,
/// so `@scope/app@1.0` works), looked up by its hash_id as posthog-cli computes it.
pub async fn find_release(client: &symship_api::Client, spec: &str) -> anyhow::Result<symship_api::Release> {
    if check_uuid(spec, "release id").is_ok() {
        return client
            .get_release(parse_uuid(spec, "release id")?)
            .await
            .map_err(|e| {
                if e.status() == Some(404) {
                    anyhow::anyhow!("no release with id {spec} in this project")
                } else {
                    e.into()
                }
            });
    }
    let Some((name, version)) = spec
        .rsplit_once('@')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
    else {
        return Err(crate::exit::UsageError(format!(
            "release {spec:?}: expected a release id (UUID) or NAME@VERSION (e.g. my-app@1.2.0)"
        ))
        .into());
    };
    let hash = symship_release::hash_id(name, version);
    client
        .get_release_by_hash(&hash)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no release {version} of {name} in this project (hash_id {hash})"))
}

/// Checks the canonical 8-4-4-4-12 hex form (or 32 bare hex digits).
pub fn check_uuid(s: &str, what: &str) -> anyhow::Result<()> {
    let hex = |part: &str| part.bytes().all(|b| b.is_ascii_hexdigit());
    let parts: Vec<&str> = s.split('-').collect();
    let ok = match parts.as_slice() {
        [a, b, c, d, e] => {
            a.len() == 8
                && b.len() == 4
                && c.len() == 4
                && d.len() == 4
                && e.len() == 12
                && parts.iter().all(|p| hex(p))
        }
        [whole] => whole.len() == 32 && hex(whole),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(UsageError(format!(
            "{what} {s:?} is not a UUID (like 0192f3a1-8c4e-7d2b-9f60-1a2b3c4d5e6f)"
        ))
        .into())
    }
}

/// A checked UUID string as the id type the typed calls take.
pub fn parse_uuid<T: FromStr>(s: &str, what: &str) -> anyhow::Result<T> {
    check_uuid(s, what)?;
    s.parse::<T>()
        .map_err(|_| UsageError(format!("{what} {s:?} is not a UUID")).into())
}

/// `90d`, `12h`, `2w`, `30m`, `45s` as seconds.
pub fn parse_age(s: &str) -> anyhow::Result<i64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| {
        UsageError(format!(
            "--unused-for {s:?}: expected a number and a unit, like 90d, 12h, 2w, 30m or 45s"
        ))
    })?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(UsageError(format!(
                "--unused-for {s:?}: the unit must be s, m (minutes), h, d or w, like 90d"
            ))
            .into())
        }
    };
    if n <= 0 {
        return Err(UsageError(format!("--unused-for {s:?} must be more than zero")).into());
    }
    n.checked_mul(unit_secs)
        .filter(|v| *v < 400 * 365 * 86_400)
        .ok_or_else(|| UsageError(format!("--unused-for {s:?} is too long")).into())
}

pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Unix seconds of an RFC 3339 time (`2026-11-22T10:00:00.123456Z`, `...+01:00`); fractions
/// are dropped.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(t: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(FORMAT).ok())
        .unwrap_or_else(|| t.to_string())
}

/// One symbol set with a fixed set of keys (null when unknown).
pub fn set_json(s: &SymbolSet) -> Value {
    json!({
        "id": s.id,
        "ref": s.reference,
        "created_at": s.created_at,
        "last_used": s.last_used,
        "has_uploaded_file": s.is_uploaded(),
        "failure_reason": s.failure_reason,
        "release": s.release.as_ref().map(release_brief),
    })
}

/// `{id, hash_id, project, version}`.
pub fn release_brief(r: &Release) -> Value {
    json!({"id": r.id, "hash_id": r.hash_id, "project": r.project, "version": r.version})
}

/// `project@version`.
pub fn release_label(r: &Release) -> String {
    format!("{}@{}", r.project, r.version)
}

/// `2026-11-22 10:00:00` from an RFC 3339 time; `-` when absent.
pub fn short_time(t: Option<&str>) -> String {
    match t {
        Some(t) => match parse_rfc3339(t) {
            Some(secs) => format_rfc3339(secs)
                .replace('T', " ")
                .trim_end_matches('Z')
                .to_owned(),
            None => t.to_owned(),
        },
        None => "-".to_owned(),
    }
}

/// Left-aligned columns separated by two spaces.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        l.truncate(l.trim_end().len());
        l.push('\n');
        l
    };
    let mut out = line(headers.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Writes to stdout, [`neutralize`](crate::untrusted::neutralize)d (refs, ids and names come
/// from the server); a closed pipe (`| head`) is not an error.
pub fn print(printer: &Printer, text: &str) -> anyhow::Result<()> {
    printer.stdout(crate::untrusted::neutralize(text).as_bytes())
}

/// Pretty JSON and a newline on stdout (serde_json escapes control characters itself; the
/// text is not neutralised, which would break its escapes).
pub fn print_json(printer: &Printer, v: &Value) -> anyhow::Result<()> {
    printer.stdout(format!("{}\n", serde_json::to_string_pretty(v)?).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(
            parse_rfc3339("2026-11-22T10:00:00.123456Z"),
            parse_rfc3339("2026-11-22T11:00:00+01:00")
        );
        assert_eq!(
            parse_rfc3339("2026-11-22T10:00:00-02:30"),
            parse_rfc3339("2026-11-22T12:30:00Z")
        );
        for t in [0, 951_868_800, 1_795_000_000, -86_401] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t), "{t}");
        }
        assert_eq!(format_rfc3339(1_795_000_000), "2026-11-18T11:06:40Z"); // date -u -d @1795000000
        assert_eq!(format_rfc3339(-86_401), "1969-12-30T23:59:59Z");
        for bad in [
            "",
            "2026-11-22",
            "2026-13-01T00:00:00Z",
            "2026-11-22T10:00:00",
            "2026-11-22T10:00:00.Z",
            "x026-11-22T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn ages() {
        assert_eq!(parse_age("90d").unwrap(), 90 * 86_400);
        assert_eq!(parse_age("2w").unwrap(), 14 * 86_400);
        assert_eq!(parse_age("12h").unwrap(), 12 * 3_600);
        assert_eq!(parse_age("30m").unwrap(), 1_800);
        for bad in ["90", "d", "0d", "-1d", "90y", "1.5d", "99999999999999d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uuids_are_checked() {
        assert!(check_uuid("0192f3a1-8c4e-7d2b-9f60-1a2b3c4d5e6f", "id").is_ok());
        assert!(check_uuid("0192F3A18C4E7D2B9F601A2B3C4D5E6F", "id").is_ok());
        for bad in [
            "",
            "../x",
            "0192f3a1-8c4e-7d2b-9f60-1a2b3c4d5e6",
            "0192f3a1-8c4e-7d2b-9f60-1a2b3c4d5e6g",
            "0192f3a1/8c4e-7d2b-9f60-1a2b3c4d5e6f",
        ] {
            assert!(check_uuid(bad, "id").is_err(), "{bad}");
        }
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], vec![vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
