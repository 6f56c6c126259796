//! `--output json`: the summary as one pretty-printed JSON document (schema in the README;
//! `schema_version` says which).

use super::Summary;

/// The document and its final newline. A run that does not exit 0 ends with `verdict`: the
/// error line(s) the text report ends with (why the exit code, what to do).
pub fn render(summary: &Summary) -> anyhow::Result<String> {
    let mut doc = serde_json::to_value(summary)?;
    if summary.exit_code != 0 {
        if let Some(fields) = doc.as_object_mut() {
            let verdict = super::text::render_verdict(summary);
            fields.insert("verdict".into(), verdict.trim_end().into());
        }
    }
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    Ok(text)
}
