//! Bit arithmetic on addresses: how many leading bits two addresses share.

use std::net::IpAddr;

/// Number of address bits of `ip`'s family (32 or 128).
pub(crate) fn bits(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// Leading bits `a` and `b` have in common; `None` if they are of different families.
pub(crate) fn common_prefix_len(a: IpAddr, b: IpAddr) -> Option<u8> {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => Some((u32::from(a) ^ u32::from(b)).leading_zeros() as u8),
        (IpAddr::V6(a), IpAddr::V6(b)) => Some((u128::from(a) ^ u128::from(b)).leading_zeros() as u8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefixes() {
        let p = |a: &str, b: &str| common_prefix_len(a.parse().unwrap(), b.parse().unwrap());
        assert_eq!(p("10.0.0.0", "10.0.0.0"), Some(32));
        assert_eq!(p("10.0.0.0", "10.0.0.1"), Some(31));
        assert_eq!(p("10.0.0.0", "138.0.0.0"), Some(0));
        assert_eq!(p("2001:db8::", "2001:db8::"), Some(128));
        assert_eq!(p("2001:db8::", "2001:db9::"), Some(31));
        assert_eq!(p("10.0.0.0", "::1"), None);
    }
}
