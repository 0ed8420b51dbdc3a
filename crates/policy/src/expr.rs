//! CEL expressions: compiled once at load, evaluated per request against lazily built variables.
//!
//! cel 0.15 has no static type check and no cost budget, so this module bounds the source size,
//! rejects references to unknown variables at load time, and records which top-level variables
//! (and which of their fields) each expression reads, so that evaluation only builds those
//! (building the whole request as CEL values per request costs ~20x the evaluation itself).
//!
//! ngrok lets `req.url` be used both as a string (`req.url.contains('/api')`) and as an object
//! (`req.url.path`). A CEL value cannot be both, so `req.url` is an object here and every use of
//! it that is not a field selection is rewritten at compile time to `req.url.raw`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

use cel::common::ast::{Expr, IdedExpr, SelectExpr};
use cel::{Context, Env};

use crate::functions;

/// Largest expression source accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;

/// The top-level variables a policy may reference.
pub(crate) const VARIABLES: &[&str] = &["req", "res", "conn", "endpoint", "time", "vars", "actions"];

pub(crate) static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    // The strings extension is part of ngrok's CEL environment (lowerAscii, split, ...); if it
    // ever failed to register, expressions using it would fail to evaluate, closed.
    let _ = env.add_extension(cel::extensions::strings);
    Arc::new(env)
});

/// Which fields of the top-level variables an expression reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Uses {
    /// variable -> fields read; `None` means the whole variable.
    pub(crate) vars: BTreeMap<&'static str, Option<BTreeSet<String>>>,
}

impl Uses {
    fn whole(&mut self, var: &'static str) {
        self.vars.insert(var, None);
    }

    fn field(&mut self, var: &'static str, field: &str) {
        // A whole-variable use (None) already covers every field.
        if let Some(fields) = self.vars.entry(var).or_insert_with(|| Some(BTreeSet::new())) {
            fields.insert(field.to_owned());
        }
    }

    pub(crate) fn merge(&mut self, other: &Uses) {
        for (var, fields) in &other.vars {
            match fields {
                None => self.whole(var),
                Some(fields) => fields.iter().for_each(|f| self.field(var, f)),
            }
        }
    }

    /// Whether `field` of `var` must be built.
    pub(crate) fn wants(&self, var: &str, field: &str) -> bool {
        match self.vars.get(var) {
            None => false,
            Some(None) => true,
            Some(Some(fields)) => fields.contains(field),
        }
    }

    pub(crate) fn uses(&self, var: &str) -> bool {
        self.vars.contains_key(var)
    }
}

/// A compiled CEL expression.
#[derive(Debug, Clone)]
pub struct CompiledExpr {
    source: String,
    expr: IdedExpr,
    pub(crate) uses: Uses,
}

impl CompiledExpr {
    /// Compiles `source`: size bound, parse, unknown-variable check, `req.url` rewrite.
    pub fn compile(source: &str) -> Result<CompiledExpr, String> {
        if source.trim().is_empty() {
            return Err("expression is empty".into());
        }
        if source.len() > MAX_EXPRESSION_BYTES {
            return Err(format!("expression is {} bytes, more than the limit of {MAX_EXPRESSION_BYTES}", source.len()));
        }
        let program = ENV.compile(source).map_err(|e| format!("invalid CEL: {}", one_line(&e.to_string())))?;
        let mut expr = program.expression().clone();
        let mut uses = Uses::default();
        let mut unknown = BTreeSet::new();
        analyse(&expr, &mut Vec::new(), &mut uses, &mut unknown);
        if let Some(name) = unknown.into_iter().next() {
            return Err(format!("unknown variable {name:?} (known: {})", VARIABLES.join(", ")));
        }
        rewrite_url(&mut expr, false);
        Ok(CompiledExpr { source: source.to_owned(), expr, uses })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The top-level variables this expression reads.
    pub fn variables(&self) -> Vec<&'static str> {
        self.uses.vars.keys().copied().collect()
    }

    pub(crate) fn eval(&self, ctx: &Context<'_, '_>) -> Result<cel::Value, String> {
        ctx.resolve(&self.expr).map_err(|e| e.to_string())
    }
}

/// cel's parse errors span several lines (`ERROR: <input>:1:25: reason`, then the source and a
/// caret); a diagnostic is one `file:line:column: field: reason` line, so keep the reason and say
/// where in the expression it is.
fn one_line(message: &str) -> String {
    let reasons: Vec<String> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|'))
        .map(|l| {
            let l = l.strip_prefix("ERROR: ").unwrap_or(l);
            let Some(rest) = l.strip_prefix("<input>:") else { return l.to_owned() };
            let mut parts = rest.splitn(3, ':');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(line), Some(col), Some(reason)) if line.parse::<u32>().is_ok() && col.parse::<u32>().is_ok() => {
                    format!("{} (at {line}:{col} of the expression)", reason.trim())
                }
                _ => l.to_owned(),
            }
        })
        .collect();
    reasons.join("; ")
}

fn known(name: &str) -> Option<&'static str> {
    VARIABLES.iter().copied().find(|v| *v == name)
}

fn analyse(e: &IdedExpr, bound: &mut Vec<String>, uses: &mut Uses, unknown: &mut BTreeSet<String>) {
    match &e.expr {
        Expr::Ident(name) => {
            if bound.iter().any(|b| b == name) {
                return;
            }
            match known(name) {
                Some(var) => uses.whole(var),
                None => {
                    unknown.insert(name.clone());
                }
            }
        }
        Expr::Select(SelectExpr { operand, field, .. }) => {
            if let Expr::Ident(name) = &operand.expr
                && !bound.iter().any(|b| b == name)
                && let Some(var) = known(name)
            {
                uses.field(var, field);
                return;
            }
            analyse(operand, bound, uses, unknown);
        }
        Expr::Call(call) => {
            for (var, field) in functions::reads(&call.func_name) {
                uses.field(var, field);
            }
            if let Some(target) = &call.target {
                analyse(target, bound, uses, unknown);
            }
            call.args.iter().for_each(|a| analyse(a, bound, uses, unknown));
        }
        Expr::Comprehension(c) => {
            analyse(&c.iter_range, bound, uses, unknown);
            analyse(&c.accu_init, bound, uses, unknown);
            let depth = bound.len();
            bound.push(c.iter_var.clone());
            bound.extend(c.iter_var2.clone());
            bound.push(c.accu_var.clone());
            for part in [&c.loop_cond, &c.loop_step, &c.result] {
                analyse(part, bound, uses, unknown);
            }
            bound.truncate(depth);
        }
        Expr::List(list) => list.elements.iter().for_each(|x| analyse(x, bound, uses, unknown)),
        Expr::Map(map) => map.entries.iter().for_each(|entry| {
            if let cel::common::ast::EntryExpr::MapEntry(m) = &entry.expr {
                analyse(&m.key, bound, uses, unknown);
                analyse(&m.value, bound, uses, unknown);
            }
        }),
        Expr::Struct(s) => s.entries.iter().for_each(|entry| {
            if let cel::common::ast::EntryExpr::StructField(f) = &entry.expr {
                analyse(&f.value, bound, uses, unknown);
            }
        }),
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn is_req_url(e: &IdedExpr) -> bool {
    matches!(&e.expr, Expr::Select(SelectExpr { operand, field, test: false })
        if field == "url" && matches!(&operand.expr, Expr::Ident(n) if n == "req"))
}

/// Rewrites `req.url` used as a value into `req.url.raw` (see the module docs).
fn rewrite_url(e: &mut IdedExpr, selected: bool) {
    if !selected && is_req_url(e) {
        let inner = std::mem::take(e);
        *e = IdedExpr {
            id: inner.id,
            expr: Expr::Select(SelectExpr { operand: Box::new(inner), field: "raw".into(), test: false }),
        };
        return;
    }
    match &mut e.expr {
        Expr::Select(s) => rewrite_url(&mut s.operand, true),
        Expr::Call(call) => {
            if let Some(t) = call.target.as_deref_mut() {
                rewrite_url(t, false);
            }
            call.args.iter_mut().for_each(|a| rewrite_url(a, false));
        }
        Expr::Comprehension(c) => {
            for part in [&mut c.iter_range, &mut c.accu_init, &mut c.loop_cond, &mut c.loop_step, &mut c.result] {
                rewrite_url(part, false);
            }
        }
        Expr::List(list) => list.elements.iter_mut().for_each(|x| rewrite_url(x, false)),
        Expr::Map(map) => map.entries.iter_mut().for_each(|entry| {
            if let cel::common::ast::EntryExpr::MapEntry(m) = &mut entry.expr {
                rewrite_url(&mut m.key, false);
                rewrite_url(&mut m.value, false);
            }
        }),
        Expr::Struct(s) => s.entries.iter_mut().for_each(|entry| {
            if let cel::common::ast::EntryExpr::StructField(f) = &mut entry.expr {
                rewrite_url(&mut f.value, false);
            }
        }),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}
