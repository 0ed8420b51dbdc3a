//! A loaded policy: every rule's expressions and actions compiled, per phase.

use crate::actions::Action;
use crate::expr::{CompiledExpr, Uses};
use crate::view::Phase;

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's `name`, or `#<index>` when it has none.
    pub name: String,
    pub(crate) expressions: Vec<CompiledExpr>,
    pub(crate) actions: Vec<Action>,
}

impl Rule {
    /// A rule whose actions can stop or restrict the request. When such a rule's expression fails
    /// at run time the request is stopped (fail closed) instead of the rule being skipped.
    pub fn is_guard(&self) -> bool {
        self.actions.iter().any(Action::is_guard)
    }

    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    pub fn expressions(&self) -> impl Iterator<Item = &str> {
        self.expressions.iter().map(CompiledExpr::source)
    }
}

/// A validated, compiled traffic policy.
#[derive(Debug, Clone, Default)]
pub struct CompiledPolicy {
    pub(crate) on_tcp_connect: Vec<Rule>,
    pub(crate) on_http_request: Vec<Rule>,
    pub(crate) on_http_response: Vec<Rule>,
    pub(crate) uses: [Uses; 3],
}

/// The name most callers want.
pub type Policy = CompiledPolicy;

impl CompiledPolicy {
    pub fn rules(&self, phase: Phase) -> &[Rule] {
        match phase {
            Phase::OnTcpConnect => &self.on_tcp_connect,
            Phase::OnHttpRequest => &self.on_http_request,
            Phase::OnHttpResponse => &self.on_http_response,
        }
    }

    pub(crate) fn uses(&self, phase: Phase) -> &Uses {
        &self.uses[phase as usize]
    }

    pub(crate) fn rules_mut(&mut self, phase: Phase) -> &mut Vec<Rule> {
        match phase {
            Phase::OnTcpConnect => &mut self.on_tcp_connect,
            Phase::OnHttpRequest => &mut self.on_http_request,
            Phase::OnHttpResponse => &mut self.on_http_response,
        }
    }

    /// Every JWKS URL any jwt-validation action uses (for the edge's cache).
    pub fn jwks_urls(&self) -> Vec<&str> {
        let mut urls: Vec<&str> = [Phase::OnTcpConnect, Phase::OnHttpRequest, Phase::OnHttpResponse]
            .into_iter()
            .flat_map(|p| self.rules(p))
            .flat_map(|r| &r.actions)
            .filter_map(|a| match a {
                Action::JwtValidation(j) => Some(j.jwks_urls()),
                _ => None,
            })
            .flatten()
            .map(String::as_str)
            .collect();
        urls.sort_unstable();
        urls.dedup();
        urls
    }
}
