//! `warren dev-idp`: a local identity provider to try JWT policies before wiring Auth0 or Okta.

use std::process::ExitCode;

use anyhow::Context;
use warren_dev_idp::{DevIdp, DevIdpOptions};

use crate::cli::DevIdpArgs;

pub(crate) fn run(args: DevIdpArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async {
        let opts = DevIdpOptions { issuer: args.issuer, default_audience: args.audience.clone(), ..Default::default() };
        let idp = DevIdp::start(args.listen, opts).await.with_context(|| format!("cannot serve on {}", args.listen))?;
        println!("listening name=dev-idp addr={}", idp.addr());
        println!("issuer:   {}", idp.issuer());
        println!("JWKS:     {}", idp.jwks_url());
        println!("tokens:   curl -s -X POST {} -H 'content-type: application/json' -d '{{\"sub\":\"alice\"{}}}'", idp.token_url(), match &args.audience {
            Some(_) => String::new(),
            None => ", \"aud\":\"api://my-api\"".to_owned(),
        });
        println!("rotate:   curl -s -X POST http://{}/rotate", idp.addr());
        println!("policy:   jwt-validation with issuer.allow_list [{}] and jws.keys.sources.additional_jkus [{}] (docs/policy.md)", idp.issuer(), idp.jwks_url());
        crate::signals::terminated().await;
        idp.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
