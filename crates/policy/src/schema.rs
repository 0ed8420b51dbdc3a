//! `schema()`: the JSON Schema (draft-07) of policy files, for editors (`warren policy schema`).
//! Built from the same config structs the loader deserializes, so it cannot drift from them.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::Deserialize;

use crate::actions::*;

#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(tag = "type", content = "config", rename_all = "kebab-case")]
enum ActionDoc {
    AddHeaders(add_headers::Config),
    BasicAuth(basic_auth::Config),
    CloseConnection(Option<close_connection::Config>),
    CompressResponse(Option<compress_response::Config>),
    CustomResponse(custom_response::Config),
    Deny(Option<deny::Config>),
    JwtValidation(jwt_validation::Config),
    Log(log::Config),
    RateLimit(rate_limit::Config),
    Redirect(redirect::Config),
    RemoveHeaders(remove_headers::Config),
    RestrictIps(restrict_ips::Config),
    SetVars(set_vars::Config),
    UrlRewrite(url_rewrite::Config),
}

#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    name: Option<String>,
    /// CEL expressions; the rule runs when all are true.
    expressions: Option<Vec<String>>,
    actions: Vec<ActionDoc>,
}

/// A Warren (ngrok-compatible) traffic policy file.
#[allow(dead_code)]
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TrafficPolicy {
    on_tcp_connect: Option<Vec<RuleDoc>>,
    on_http_request: Option<Vec<RuleDoc>>,
    on_http_response: Option<Vec<RuleDoc>>,
}

/// The JSON Schema (draft-07) of policy files.
pub fn schema() -> serde_json::Value {
    let generator = SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<TrafficPolicy>();
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}
