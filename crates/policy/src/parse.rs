//! `validate(src, file_name)`: YAML text to a compiled policy, or every mistake with its position.
//!
//! serde-saphyr parses the text into a positioned tree (syntax errors and duplicate keys stop
//! there: one diagnostic). Then the tree is walked and *all* problems are collected: unknown or
//! mistyped fields, tagged scalars (an unquoted `- !expr` is a YAML tag, not negation), empty or
//! oversized expressions, CEL errors, variables absent from the phase, unknown action types,
//! actions in phases that do not support them, and every action's config errors.

use crate::actions::{Action, TYPES};
use crate::error::Diagnostic;
use crate::expr::{CompiledExpr, Uses};
use crate::node::{Node, Pos, Value};
use crate::policy::{CompiledPolicy, Rule};
use crate::view::Phase;

/// Largest policy file accepted.
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;

const PHASES: &[(&str, Phase)] = &[
    ("on_tcp_connect", Phase::OnTcpConnect),
    ("on_http_request", Phase::OnHttpRequest),
    ("on_http_response", Phase::OnHttpResponse),
];

struct Checker<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
    diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn err(&mut self, pos: Pos, field: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            file: self.file.to_owned(),
            line: pos.line,
            column: pos.column,
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// The YAML tag written just before the scalar at `pos`, if any (serde-saphyr resolves tags
    /// silently, so they are found in the source).
    fn tag_before(&self, pos: Pos) -> Option<String> {
        let line = self.lines.get((pos.line as usize).checked_sub(1)?)?;
        let prefix: String = line.chars().take((pos.column as usize).saturating_sub(1)).collect();
        let token = prefix.trim_end().rsplit(char::is_whitespace).next()?;
        let token = token.trim_start_matches(['[', '{', ',']);
        token.starts_with('!').then(|| token.to_owned())
    }

    fn check_tags(&mut self, node: &Node, path: &str) {
        match &node.value {
            Value::Seq(items) => {
                for (i, n) in items.iter().enumerate() {
                    self.check_tags(n, &format!("{path}[{i}]"));
                }
            }
            Value::Map(entries) => {
                for (k, v) in entries {
                    let p = format!("{path}.{}", k.as_str().unwrap_or("?"));
                    self.check_tags(v, &p);
                }
            }
            _ => {
                let mut found = Vec::new();
                node.tagged(&mut found);
                let tag = found.first().map(|(_, t)| t.clone()).or_else(|| self.tag_before(node.pos));
                if let Some(tag) = tag {
                    self.err(
                        node.pos,
                        path.trim_start_matches('.'),
                        format!("YAML tag {tag} is not allowed; quote the value (an unquoted `!expr` is a tag, not negation)"),
                    );
                }
            }
        }
    }

    fn map<'n>(&mut self, node: &'n Node, path: &str, allowed: &[&str]) -> Option<Vec<(&'n str, &'n Node)>> {
        let Value::Map(entries) = &node.value else {
            self.err(node.pos, path, format!("expected a mapping, found {}", node.value.kind()));
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            match k.as_str() {
                Some(key) if allowed.contains(&key) => out.push((key, v)),
                Some(key) => self.err(
                    k.pos,
                    &join(path, key),
                    format!("unknown field {key:?} (expected one of: {})", allowed.join(", ")),
                ),
                None => self.err(k.pos, path, "keys must be strings"),
            }
        }
        Some(out)
    }

    fn rule(&mut self, node: &Node, path: &str, index: usize, phase: Phase, uses: &mut Uses) -> Option<Rule> {
        let fields = self.map(node, path, &["name", "expressions", "actions"])?;
        let mut name = format!("#{index}");
        let mut expressions = Vec::new();
        let mut actions = Vec::new();
        let mut ok = true;
        let mut saw_actions = false;
        for (key, value) in fields {
            let p = join(path, key);
            match key {
                "name" => match &value.value {
                    Value::Str(s) => name = s.clone(),
                    other => {
                        self.err(value.pos, &p, format!("expected a string, found {}", other.kind()));
                        ok = false;
                    }
                },
                "expressions" => match &value.value {
                    Value::Seq(items) => {
                        for (i, item) in items.iter().enumerate() {
                            let ep = format!("{p}[{i}]");
                            match item.as_str() {
                                Some(src) => match CompiledExpr::compile(src) {
                                    Ok(e) => {
                                        for var in e.variables() {
                                            if !phase.has(var) {
                                                self.err(
                                                    item.pos,
                                                    &ep,
                                                    format!("variable {var:?} is not available in {}", phase.name()),
                                                );
                                                ok = false;
                                            }
                                        }
                                        uses.merge(&e.uses);
                                        expressions.push(e);
                                    }
                                    Err(e) => {
                                        self.err(item.pos, &ep, e);
                                        ok = false;
                                    }
                                },
                                None => {
                                    self.err(item.pos, &ep, format!("expected a string, found {}", item.value.kind()));
                                    ok = false;
                                }
                            }
                        }
                    }
                    Value::Null => {}
                    other => {
                        self.err(value.pos, &p, format!("expected a list of expressions, found {}", other.kind()));
                        ok = false;
                    }
                },
                _ => {
                    saw_actions = true;
                    match &value.value {
                        Value::Seq(items) if !items.is_empty() => {
                            for (i, item) in items.iter().enumerate() {
                                match self.action(item, &format!("{p}[{i}]"), phase) {
                                    Some(a) => {
                                        a.uses(uses);
                                        actions.push(a);
                                    }
                                    None => ok = false,
                                }
                            }
                        }
                        _ => {
                            self.err(value.pos, &p, "expected a non-empty list of actions");
                            ok = false;
                        }
                    }
                }
            }
        }
        if !saw_actions {
            self.err(node.pos, path, "a rule needs actions");
            ok = false;
        }
        ok.then_some(Rule { name, expressions, actions })
    }

    fn action(&mut self, node: &Node, path: &str, phase: Phase) -> Option<Action> {
        let fields = self.map(node, path, &["type", "config"])?;
        let kind = fields.iter().find(|(k, _)| *k == "type").map(|(_, v)| *v);
        let config = fields.iter().find(|(k, _)| *k == "config").map(|(_, v)| *v);
        let Some(kind_node) = kind else {
            self.err(node.pos, path, "an action needs a type");
            return None;
        };
        let Some(kind) = kind_node.as_str() else {
            self.err(kind_node.pos, &join(path, "type"), "expected a string");
            return None;
        };
        let Some((_, phases)) = TYPES.iter().find(|(t, _)| *t == kind) else {
            let known: Vec<&str> = TYPES.iter().map(|(t, _)| *t).collect();
            self.err(
                kind_node.pos,
                &join(path, "type"),
                format!("unknown action type {kind:?} (known: {})", known.join(", ")),
            );
            return None;
        };
        if !phases.contains(&phase) {
            self.err(kind_node.pos, &join(path, "type"), format!("{kind} is not supported in {}", phase.name()));
            return None;
        }
        let config_json = config.map_or(serde_json::Value::Null, Node::to_json);
        let cpath = join(path, "config");
        match Action::compile(kind, config_json) {
            Ok(a) => Some(a),
            Err(errors) => {
                let base = config.map_or(node.pos, |c| c.pos);
                for (field, message) in errors {
                    let leaf = field.rsplit('.').next().unwrap_or("");
                    let pos =
                        config.and_then(|c| if leaf.is_empty() { None } else { c.find_key(leaf) }).unwrap_or(base);
                    let fpath = if field.is_empty() { cpath.clone() } else { join(&cpath, &field) };
                    self.err(pos, &fpath, message);
                }
                None
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn parse_error_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or("").trim_start_matches("error: ");
    // "line 2 column 1: duplicate mapping key: a, ..." -> the reason only.
    match first.split_once(": ") {
        Some((loc, rest)) if loc.starts_with("line ") => rest.to_owned(),
        _ => first.to_owned(),
    }
}

/// Parses, validates and compiles a policy file, reporting every mistake.
pub fn validate(src: &str, file_name: &str) -> Result<CompiledPolicy, Vec<Diagnostic>> {
    let mut c = Checker { file: file_name, lines: src.lines().collect(), diags: Vec::new() };
    if src.len() > MAX_POLICY_BYTES {
        c.err(Pos { line: 1, column: 1 }, "", format!("file is larger than {MAX_POLICY_BYTES} bytes"));
        return Err(c.diags);
    }
    if src.trim().is_empty() {
        return Ok(CompiledPolicy::default());
    }
    let root: Node = match serde_saphyr::from_str(src) {
        Ok(n) => n,
        Err(e) => {
            let pos = e.location().map_or(Pos { line: 1, column: 1 }, |l| Pos {
                line: u32::try_from(l.line()).unwrap_or(0),
                column: u32::try_from(l.column()).unwrap_or(0),
            });
            c.err(pos, "", parse_error_message(&e));
            return Err(c.diags);
        }
    };
    c.check_tags(&root, "");
    let mut policy = CompiledPolicy::default();
    if matches!(root.value, Value::Null) {
        return if c.diags.is_empty() { Ok(policy) } else { Err(c.diags) };
    }
    let names: Vec<&str> = PHASES.iter().map(|(n, _)| *n).collect();
    let Some(fields) = c.map(&root, "", &names) else { return Err(c.diags) };
    for (key, value) in fields {
        let Some(&(_, phase)) = PHASES.iter().find(|(n, _)| *n == key) else { continue };
        let rules = match &value.value {
            Value::Seq(items) => items,
            Value::Null => continue,
            other => {
                c.err(value.pos, key, format!("expected a list of rules, found {}", other.kind()));
                continue;
            }
        };
        let mut uses = Uses::default();
        for (i, item) in rules.iter().enumerate() {
            if let Some(rule) = c.rule(item, &format!("{key}[{i}]"), i, phase, &mut uses) {
                policy.rules_mut(phase).push(rule);
            }
        }
        policy.uses[phase as usize] = uses;
    }
    if c.diags.is_empty() { Ok(policy) } else { Err(c.diags) }
}
