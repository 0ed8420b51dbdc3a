//! The demo's DNS questions, asked with hickory's client over UDP as a resolver would, optionally
//! with EDNS Client Subnet (what public resolvers send so that GSLB can place the real client).

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, anyhow};
use hickory_net::client::Client;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::{DnsHandle, FirstAnswer};
use hickory_proto::op::{DnsRequest, DnsRequestOptions, Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};

/// The answer to one `A` question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) rcode: ResponseCode,
    pub(crate) addrs: Vec<Ipv4Addr>,
}

/// Asks `server` for the `A` records of `name`, with an ECS option for `subnet` when given.
pub(crate) async fn ask_a(server: SocketAddr, name: &str, subnet: Option<&str>) -> anyhow::Result<Answer> {
    let conn = UdpClientStream::builder(server, TokioRuntimeProvider::default())
        .with_timeout(Some(Duration::from_secs(2)))
        .build();
    let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(conn);
    let bg = tokio::spawn(bg);
    let fqdn = Name::from_str(&format!("{name}.")).with_context(|| format!("{name} is not a DNS name"))?;
    let mut msg = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = false;
    msg.add_query(Query::query(fqdn, RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    if let Some(cidr) = subnet {
        let ecs = ClientSubnet::from_str(cidr).map_err(|e| anyhow!("bad subnet {cidr}: {e}"))?;
        edns.options_mut().insert(EdnsOption::Subnet(ecs));
    }
    msg.set_edns(edns);
    let mut options = DnsRequestOptions::default();
    options.use_edns = true;
    let reply = client.send(DnsRequest::new(msg, options)).first_answer().await;
    bg.abort();
    let reply = reply.with_context(|| format!("no DNS answer from {server}"))?.into_message();
    let addrs = reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    Ok(Answer { rcode: reply.metadata.response_code, addrs })
}
