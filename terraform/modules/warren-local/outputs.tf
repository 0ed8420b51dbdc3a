output "pops" {
  description = "Each local PoP: its addresses, files and admin URL."
  value = { for p in local.pops : p.id => {
    address   = p.address
    listen    = module.config.pops[p.id].listen
    admin_url = terraform_data.pop[p.id].output.admin_url
    config    = "${p.dir}/pop.yaml"
    log_file  = "${p.dir}/warren.log"
    pid_file  = "${p.dir}/warren.pid"
    dev_ca    = "${p.dir}/data/ca/ca.pem"
  } }
}

output "healthz_urls" {
  description = "Every PoP's admin /healthz (200 while it serves)."
  value       = [for p in local.pops : "${terraform_data.pop[p.id].output.admin_url}/healthz"]
}

output "admin_token_file" {
  description = "The admin token of every local PoP: warren admin --url ADMIN_URL --token \"$(cat FILE)\"."
  value       = terraform_data.cluster.output.admin_token_file
}

output "tunnel_addrs" {
  description = "Agents: --server-addr for each PoP (and --ca-file the PoP's dev_ca)."
  value       = [for p in local.pops : module.config.pops[p.id].listen.tunnel]
}

output "zone" {
  value = var.zone
}
