output "public_ipv4" {
  description = "The PoP's primary IPv4: its public_ipv4, cluster address and name server glue."
  value       = hcloud_primary_ip.ipv4.ip_address
}

output "public_ipv6" {
  description = "The PoP's public IPv6 (::1 of its primary /64, which Hetzner assigns to the server), or null."
  value       = var.ipv6 ? cidrhost(hcloud_primary_ip.ipv6[0].ip_network, 1) : null
}

output "server_id" {
  value = hcloud_server.pop.id
}

output "firewall_id" {
  value = hcloud_firewall.pop.id
}
