# A three-PoP Warren cluster on this machine (127.0.0.11-13), for trying things out:
#   cargo build -p warren-cli
#   cd terraform/examples/local && terraform init && terraform apply
#   curl http://127.0.0.11:19090/healthz
#   terraform destroy
# CI applies and destroys exactly this (.ci/terraform).
terraform {
  required_version = ">= 1.9"
}

variable "warren_binary" {
  description = "The warren binary (default: the workspace's debug build)."
  type        = string
  default     = null
}

variable "state_dir" {
  description = "Where the PoPs' configs, data, logs and pid files go (default: .warren-local here)."
  type        = string
  default     = null
}

module "local" {
  source = "../../modules/warren-local"

  warren_binary = coalesce(var.warren_binary, abspath("${path.root}/../../../target/debug/warren"))
  state_dir     = coalesce(var.state_dir, abspath("${path.root}/.warren-local"))
}

output "healthz_urls" {
  value = module.local.healthz_urls
}

output "pops" {
  value = module.local.pops
}

output "admin_token_file" {
  value = module.local.admin_token_file
}

output "tunnel_addrs" {
  value = module.local.tunnel_addrs
}
