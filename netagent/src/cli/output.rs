//! What the verbs print: aligned tables, as `docker ps` and `docker
//! network ls` print them, and indented JSON, as `docker inspect` does.

use anyhow::Result;
use serde::Serialize;

/// [`table`] of JSON rows (what `--format` sees), one column per key of
/// `columns`, text fields as they are and anything else empty.
pub fn json_table(header: &[&str], columns: &[&str], rows: &[serde_json::Value]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| r[*c].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .collect();
    table(header, &cells)
}

/// Formats `rows` under `header`, each column as wide as its widest cell
/// plus three spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Prints `value` as indented JSON with every object's keys in sorted
/// order (through a `serde_json::Value`, whose maps are sorted), the way
/// `inspect` and `network inspect` have always printed.
pub fn print_json(value: &impl Serialize) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::to_value(value)?)?
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_line_up() {
        let text = super::table(
            &["NAME", "ID"],
            &[
                vec!["web".into(), "1".into()],
                vec!["database".into(), "22".into()],
            ],
        );
        assert_eq!(text, "NAME       ID\nweb        1\ndatabase   22\n");
    }
}
