//! The request as traffic policy sees it: read straight from the request head, nothing copied.

use std::net::IpAddr;

use warren_policy::RequestView;

use crate::router::RequestContext;

pub(crate) struct HttpView<'a> {
    pub(crate) ctx: &'a RequestContext,
    pub(crate) parts: &'a http::request::Parts,
    pub(crate) region: &'a str,
    pub(crate) geo: Option<&'a warren_geo::GeoDb>,
    pub(crate) endpoint_url: String,
    /// Set in the `on_http_response` phase.
    pub(crate) response: Option<&'a http::response::Parts>,
}

impl RequestView for HttpView<'_> {
    fn method(&self) -> &str {
        self.parts.method.as_str()
    }
    fn scheme(&self) -> &str {
        self.ctx.proto.as_str()
    }
    fn host(&self) -> &str {
        &self.ctx.host
    }
    fn path(&self) -> &str {
        self.parts.uri.path()
    }
    fn raw_query(&self) -> &str {
        self.parts.uri.query().unwrap_or("")
    }
    fn for_each_header(&self, f: &mut dyn FnMut(&str, &str)) {
        for (name, value) in &self.parts.headers {
            if let Ok(v) = value.to_str() {
                f(name.as_str(), v);
            }
        }
    }
    fn client_ip(&self) -> IpAddr {
        self.ctx.client.ip()
    }
    fn client_port(&self) -> u16 {
        self.ctx.client.port()
    }
    fn server_region(&self) -> &str {
        self.region
    }
    fn tls_sni(&self) -> Option<&str> {
        // Our listener only completes handshakes for names it holds, so on TLS the SNI is the
        // routed host.
        (self.ctx.proto == warren_proxy::Proto::Https).then_some(self.ctx.host.as_str())
    }
    fn geo(&self) -> Option<warren_policy::Geo> {
        let l = self.geo?.lookup(self.ctx.client.ip())?;
        Some(warren_policy::Geo {
            country_code: l.country_code,
            country: l.country,
            subdivision: l.subdivision,
            city: l.city,
            postal_code: l.postal_code,
            latitude: l.latitude,
            longitude: l.longitude,
        })
    }
    fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }
    fn response_status(&self) -> Option<u16> {
        self.response.map(|r| r.status.as_u16())
    }
    fn for_each_response_header(&self, f: &mut dyn FnMut(&str, &str)) {
        for (name, value) in self.response.iter().flat_map(|r| r.headers.iter()) {
            if let Ok(v) = value.to_str() {
                f(name.as_str(), v);
            }
        }
    }
}
