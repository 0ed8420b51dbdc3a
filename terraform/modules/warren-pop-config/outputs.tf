output "ids" {
  description = "The PoP ids, in input order."
  value       = [for p in var.pops : p.id]
}

output "pop_yaml" {
  description = "Each PoP's pop.yaml (id => text); check one with `warren pop --config FILE --check`."
  value       = local.pop_yaml
}

output "pops" {
  description = "What each pop.yaml says, as data (id => object): listen addresses, data_dir, bootstrap."
  value       = local.pop
}

output "peers" {
  description = "cluster.peers: id => cluster host:port, the same in every pop.yaml."
  value       = local.peers
}

output "secret_file" {
  description = "Where each PoP reads the cluster secret (cluster.secret_file)."
  value       = local.secret_file
}

output "admin_token_file" {
  description = "Where each PoP reads the admin token (admin_token_file)."
  value       = local.admin_token_file
}

output "global_policy_file" {
  description = "Where each PoP reads the operator's global policy, or null."
  value       = local.global_policy_file
}

output "ns_names" {
  description = "Name server of each PoP: id => ns-ID.ZONE."
  value       = local.ns_names
}

output "delegation" {
  description = "The NS set to publish at the parent zone for ZONE: every PoP's name server."
  value = {
    zone = var.zone
    ttl  = var.ns_ttl
    ns   = [for p in var.pops : local.ns_names[p.id]]
  }
}

output "glue_records" {
  description = "Glue to publish at the parent zone: ns-ID.ZONE A (and AAAA) = the PoP's public address."
  value       = local.glue_records
}

output "parent_zone_records" {
  description = "The delegation and glue as zone-file lines, ready to paste into the parent zone."
  value       = local.parent_zone_records
}

output "firewall" {
  description = "The firewall model: public rules (open to the world), cluster rules (only from cluster_sources_*), and the admin port that stays closed."
  value       = local.firewall
}

output "user_data" {
  description = "cloud-init user data per PoP (id => text), or {} without warren_binary_url/warren_binary_path. Contains the cluster secret and the admin token."
  value       = local.user_data
  sensitive   = true
}
