output "public_ipv4" {
  description = "The PoPs' addresses."
  value = {
    pop-fra = module.pop_fra.public_ipv4
    pop-iad = module.pop_iad.public_ipv4
    pop-sin = module.pop_sin.public_ipv4
  }
}

output "parent_zone_records" {
  description = "NS and glue records to publish in the parent zone (zone-file syntax)."
  value       = module.config.parent_zone_records
}

output "delegation" {
  value = module.config.delegation
}

output "glue_records" {
  value = module.config.glue_records
}

output "admin_token" {
  description = "The PoPs' admin API token (warren admin --url ... --token ...): terraform output -raw admin_token."
  value       = random_password.admin_token.result
  sensitive   = true
}
