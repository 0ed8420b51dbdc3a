//! The checks the demo shows: GSLB DNS sends this machine to its nearest PoP (and clients
//! elsewhere to theirs), a call without a token is refused with 401 and its code, a call with a
//! token gets 200 from the API through the tunnel, also through a PoP the agent has no tunnel to.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use super::Progress;
use super::admin::poll;
use super::calls;
use super::dns;
use super::layout::{API_NAME, CLIENT_NETS, SITES, ZONE};
use super::world::World;

/// How long the DNS server gets to learn the endpoint after the agent is online.
const DNS_WAIT: Duration = Duration::from_secs(15);

fn host() -> String {
    format!("{API_NAME}.{ZONE}")
}

/// Where GSLB sends the client of `CLIENT_NETS[net]`: the PoP nearest to it.
fn nearest_site(net: usize) -> usize {
    let n = CLIENT_NETS[net];
    let d = |i: usize| warren_gslb::haversine_km(n.lat, n.lon, SITES[i].lat, SITES[i].lon);
    (0..SITES.len()).min_by(|a, b| d(*a).total_cmp(&d(*b))).unwrap_or(0)
}

/// One `A` question, repeated until it has an answer (the endpoint reaches the DNS view through
/// Raft a moment after the agent is online).
async fn answer(server: SocketAddr, subnet: Option<&str>) -> anyhow::Result<Ipv4Addr> {
    let last = std::sync::Mutex::new(String::from("no answer"));
    let found = poll(DNS_WAIT, || async {
        let why = match dns::ask_a(server, &host(), subnet).await {
            Ok(a) if !a.addrs.is_empty() => return Some(a.addrs[0]),
            Ok(a) => format!("{} with no address", a.rcode),
            Err(e) => format!("{e:#}"),
        };
        *last.lock().unwrap_or_else(|p| p.into_inner()) = why;
        None
    })
    .await;
    let last = last.into_inner().unwrap_or_else(|p| p.into_inner());
    found.ok_or_else(|| anyhow!("DNS at {server} never answered {} A: {last}", host()))
}

/// Asks one PoP's DNS server for the endpoint as this machine and as clients elsewhere (EDNS
/// Client Subnet); returns the PoP DNS chose for this machine.
pub(crate) async fn dns_step(world: &World, p: &Progress) -> anyhow::Result<usize> {
    // Any PoP answers for the zone; ask the one farthest from the client to show that.
    let asked = world.pop(SITES.len() - 1)?;
    let server = asked.dns.ok_or_else(|| {
        anyhow!("{} opened no DNS listener: this build of `warren pop` has no GSLB DNS server", asked.id())
    })?;
    let name = |ip: Ipv4Addr| match world.layout.pop_of(ip) {
        Some(i) => format!("{ip} = {} ({})", SITES[i].id, SITES[i].city),
        None => ip.to_string(),
    };
    let mut chosen = 0;
    for (n, net) in CLIENT_NETS.iter().enumerate() {
        let subnet = (n > 0).then_some(net.cidr);
        let ip = answer(server, subnet).await?;
        let want = nearest_site(n);
        let got = world.layout.pop_of(ip);
        if got.is_some_and(|g| g != want) {
            bail!(
                "DNS sent a client in {} to {}, not to the nearest PoP {} ({})",
                net.place,
                name(ip),
                SITES[want].id,
                world.layout.ips[want]
            );
        }
        if n == 0 {
            chosen = got.unwrap_or(0);
            p.step(
                "DNS",
                format!(
                    "{} A? asked {}'s server {server}: {}. Your client is placed in {} ({}) by geo.networks",
                    host(),
                    asked.id(),
                    name(ip),
                    net.continent,
                    net.place
                ),
            );
        } else {
            p.step(
                "DNS, elsewhere",
                format!("a client in {} (EDNS Client Subnet {}): {}", net.place, net.cidr, name(ip)),
            );
        }
    }
    Ok(chosen)
}

/// The calls: 401 without a token, 200 with one through the PoP DNS chose, 200 through a PoP
/// without a tunnel. Returns when the first call was accepted.
pub(crate) async fn calls_step(world: &World, p: &Progress, nearest: usize, token: &str) -> anyhow::Result<Duration> {
    let url = format!("https://{}:{}/hello", host(), world.layout.https(nearest).port());
    let via = |i: usize| -> anyhow::Result<reqwest::Client> {
        calls::client(&host(), world.layout.https(i), &world.files.ca_pem())
    };
    let near = via(nearest)?;
    let id = SITES[nearest].id;

    let r = calls::get(&near, &url, None).await?;
    if r.status != 401 {
        bail!("a call without a token through {id} answered {} (expected 401): {}", r.summary(), r.body_line(200));
    }
    let challenge = r.www_authenticate.as_deref().unwrap_or("none");
    p.step("without a token", format!("GET {url} via {id}: {} (WWW-Authenticate: {challenge})", r.summary()));

    let r = calls::get(&near, &url, Some(token)).await?;
    let accepted_at = p.elapsed();
    if r.status != 200 {
        bail!("a call with a valid token through {id} answered {} (expected 200): {}", r.summary(), r.body_line(200));
    }
    p.step("with a token", format!("GET {url} via {id}: {} {}", r.summary(), r.body_line(160)));

    // A PoP the agent has no tunnel to forwards the request to one that has.
    let far = (0..SITES.len()).find(|i| !world.agent_servers.contains(i)).context("every PoP holds a tunnel")?;
    let r = calls::get(&via(far)?, &url, Some(token)).await?;
    if r.status != 200 {
        bail!(
            "a call through {} (forwarded to the agent's PoP) answered {}: {}",
            SITES[far].id,
            r.summary(),
            r.body_line(200)
        );
    }
    p.step(
        "forwarded",
        format!(
            "the same call via {}, which holds no tunnel: {} (carried to the agent's PoP)",
            SITES[far].id,
            r.summary()
        ),
    );
    Ok(accepted_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_network_is_nearest_to_its_own_pop() {
        assert_eq!((0..3).map(nearest_site).collect::<Vec<_>>(), [0, 1, 2]);
    }
}
