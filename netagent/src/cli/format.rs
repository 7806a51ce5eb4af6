//! `--format` / `-f`: Go's text/template syntax, as Docker users write it
//! (`{{.Name}}`, `{{json .}}`, `{{range .Containers}}...{{end}}`,
//! `{{index .Labels "k"}}`, and the `table` prefix), through the `gtmpl`
//! crate rather than a template engine of our own (issue #13).
//!
//! Each verb hands over the JSON it would print and gets text back: the
//! object's own keys are its fields (an unknown field is an error, as a
//! Go struct's is), keys of nested maps read as Go map keys do (a missing
//! one is `<no value>`). Docker's extra functions are added: `json`,
//! `join`, `lower`, `upper`, `title`, `split`, `truncate`, `pad`.

use std::collections::HashMap;

use anyhow::{anyhow, Result};
use gtmpl::{Context, FuncError, Template, Value};
use gtmpl_value::Number;

use super::output::table;

/// A parsed `--format`: Docker's `table` prefix or a plain template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// The template text after any `table` prefix.
    template: String,
    /// Whether the output is a table with a header (the `table` prefix).
    table: bool,
}

impl Format {
    /// Reads a `--format` value. Docker's `table` alone means its default
    /// columns, which the caller gives as `default_table`.
    pub fn parse(text: &str, default_table: &str) -> Format {
        let trimmed = text.trim_start();
        match trimmed.strip_prefix("table") {
            Some(rest) if rest.trim().is_empty() => Format {
                template: default_table.to_owned(),
                table: true,
            },
            Some(rest) if rest.starts_with(char::is_whitespace) => Format {
                template: rest.trim_start().to_owned(),
                table: true,
            },
            _ => Format {
                template: text.to_owned(),
                table: false,
            },
        }
    }

    /// Renders every row; a table gets its header from `headers` (field
    /// name to column title, as Docker's) and aligned columns (`\t`
    /// separates them, as Docker's tabwriter reads it).
    pub fn render(&self, rows: &[serde_json::Value], headers: &[(&str, &str)]) -> Result<String> {
        let lines: Vec<String> = rows
            .iter()
            .map(|row| render_one(&self.template, row))
            .collect::<Result<_>>()?;
        if !self.table {
            return Ok(lines.iter().map(|l| format!("{l}\n")).collect());
        }
        let header_row: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(field, title)| ((*field).to_owned(), serde_json::Value::from(*title)))
            .collect();
        let header = render_one(&self.template, &serde_json::Value::Object(header_row))?;
        let split = |line: &str| line.split('\t').map(str::to_owned).collect::<Vec<_>>();
        let cells: Vec<Vec<String>> = lines.iter().map(|l| split(l)).collect();
        let titles = split(&header);
        let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
        Ok(table(&titles, &cells))
    }
}

/// Renders `template` with `value` as dot: one line of `--format` output.
pub fn render_one(template: &str, value: &serde_json::Value) -> Result<String> {
    let mut parsed = Template::default();
    for (name, func) in EXTRA_FUNCS {
        parsed.add_func(name, *func);
    }
    parsed
        .parse(template)
        .map_err(|err| anyhow!("template parsing error: {err}"))?;
    parsed
        .render(&Context::from(to_value(value, true)))
        .map_err(|err| anyhow!("template: executing {template:?}: {err}"))
}

/// Docker's template functions beyond Go's own (docker/cli
/// templates/templates.go).
const EXTRA_FUNCS: &[(&str, gtmpl::Func)] = &[
    ("json", json),
    ("join", join),
    ("lower", lower),
    ("upper", upper),
    ("title", title),
    ("split", split),
    ("truncate", truncate),
    ("pad", pad),
];

/// A JSON value as the template sees it; `top` objects are structs
/// (unknown fields are errors), deeper ones maps.
fn to_value(value: &serde_json::Value, top: bool) -> Value {
    match value {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Value::Number(Number::from(u)),
            (None, Some(i)) => Value::Number(Number::from(i)),
            _ => Value::Number(Number::from(n.as_f64().unwrap_or(0.0))),
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => {
            Value::Array(items.iter().map(|v| to_value(v, false)).collect())
        }
        serde_json::Value::Object(map) => {
            let fields: HashMap<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), to_value(v, false)))
                .collect();
            if top {
                Value::Object(fields)
            } else {
                Value::Map(fields)
            }
        }
    }
}

/// The way back, for `json`: maps come out with sorted keys, as Go's
/// encoding/json writes a map.
fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.into(),
            (None, Some(i), _) => i.into(),
            (_, _, f) => f.unwrap_or(0.0).into(),
        },
        Value::Array(items) => items.iter().map(to_json).collect(),
        Value::Object(map) | Value::Map(map) => {
            serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

fn arg<'a>(args: &'a [Value], name: &str, count: usize) -> Result<&'a [Value], FuncError> {
    if args.len() == count {
        Ok(args)
    } else {
        Err(FuncError::ExactlyXArgs(name.into(), count))
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn json(args: &[Value]) -> Result<Value, FuncError> {
    let args = arg(args, "json", 1)?;
    Ok(Value::String(to_json(&args[0]).to_string()))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    let args = arg(args, "join", 2)?;
    let Value::Array(items) = &args[0] else {
        return Err(FuncError::Generic(
            "join takes a list and a separator".into(),
        ));
    };
    let parts: Vec<String> = items.iter().map(text).collect();
    Ok(Value::String(parts.join(&text(&args[1]))))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        text(&arg(args, "lower", 1)?[0]).to_lowercase(),
    ))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        text(&arg(args, "upper", 1)?[0]).to_uppercase(),
    ))
}

fn title(args: &[Value]) -> Result<Value, FuncError> {
    let word = text(&arg(args, "title", 1)?[0]);
    let mut chars = word.chars();
    let titled = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    Ok(Value::String(titled))
}

fn split(args: &[Value]) -> Result<Value, FuncError> {
    let args = arg(args, "split", 2)?;
    let (whole, separator) = (text(&args[0]), text(&args[1]));
    Ok(Value::Array(
        whole
            .split(separator.as_str())
            .map(|s| Value::String(s.to_owned()))
            .collect(),
    ))
}

fn count_arg(value: &Value) -> Result<usize, FuncError> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .map(|n| n as usize)
            .ok_or(FuncError::UnableToConvertFromValue),
        _ => Err(FuncError::UnableToConvertFromValue),
    }
}

fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    let args = arg(args, "truncate", 2)?;
    let length = count_arg(&args[1])?;
    Ok(Value::String(text(&args[0]).chars().take(length).collect()))
}

fn pad(args: &[Value]) -> Result<Value, FuncError> {
    let args = arg(args, "pad", 3)?;
    let (left, right) = (count_arg(&args[1])?, count_arg(&args[2])?);
    Ok(Value::String(format!(
        "{}{}{}",
        " ".repeat(left),
        text(&args[0]),
        " ".repeat(right)
    )))
}

#[cfg(test)]
mod tests;
