//! `${...}` interpolation in action fields (header values, redirect targets, bodies, log
//! metadata...): each placeholder is a CEL expression compiled at load like rule expressions.

use cel::{Context, Value};

use crate::expr::{CompiledExpr, Uses};

#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Expr(Box<CompiledExpr>),
}

/// A string field with `${expr}` placeholders.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
    pub(crate) uses: Uses,
}

impl Template {
    /// Parses and compiles every placeholder. `$${` is not special; an unclosed `${` is an error.
    pub fn compile(src: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut uses = Uses::default();
        let mut rest = src;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Lit(rest[..start].to_owned()));
            }
            let body = &rest[start + 2..];
            let end = closing_brace(body).ok_or_else(|| "unclosed ${ in interpolation".to_owned())?;
            let expr = CompiledExpr::compile(&body[..end]).map_err(|e| format!("in ${{{}}}: {e}", &body[..end]))?;
            uses.merge(&expr.uses);
            parts.push(Part::Expr(Box::new(expr)));
            rest = &body[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_owned()));
        }
        Ok(Template { parts, uses })
    }

    /// Whether the template is a plain string.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    pub(crate) fn render(&self, ctx: &Context<'_, '_>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Expr(e) => out.push_str(&to_text(&e.eval(ctx)?)),
            }
        }
        Ok(out)
    }
}

/// Index of the `}` closing a placeholder body, skipping nested braces and quoted strings.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// A CEL value as text: strings verbatim, scalars printed, lists and maps as JSON.
pub(crate) fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Null => String::new(),
        other => match to_json(other) {
            serde_json::Value::String(s) => s,
            json => json.to_string(),
        },
    }
}

/// A CEL value as JSON (for log metadata, vars and text rendering).
pub(crate) fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::UInt(u) => J::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::String(s) => J::String(s.to_string()),
        Value::Bytes(b) => J::String(String::from_utf8_lossy(b).into_owned()),
        Value::List(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(m) => J::Object(
            m.map
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        cel::objects::Key::String(s) => s.to_string(),
                        cel::objects::Key::Int(i) => i.to_string(),
                        cel::objects::Key::Uint(u) => u.to_string(),
                        cel::objects::Key::Bool(b) => b.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Value::Timestamp(t) => J::String(t.to_rfc3339()),
        Value::Duration(d) => J::String(format!("{}s", d.num_milliseconds() as f64 / 1000.0)),
        other => J::String(format!("{other:?}")),
    }
}
