# Three PoPs on Hetzner Cloud: Falkenstein (fsn1), Ashburn, Virginia (ash), Singapore (sin), each
# with a primary IPv4 and IPv6. HCLOUD_TOKEN in the environment, then as in docs/deploy.md:
#   terraform init
#   terraform apply -var zone=edge.example.com -var warren_binary_url=https://... -var warren_binary_sha256=...
#   terraform output -raw parent_zone_records

terraform {
  required_version = ">= 1.9"
  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = ">= 1.58, < 2.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.5, < 4.0"
    }
  }
}

provider "hcloud" {}

locals {
  pops = {
    pop-fsn = { location = "fsn1", region = "eu-central", lat = 50.48, lon = 12.37 }
    pop-ash = { location = "ash", region = "us-east", lat = 39.04, lon = -77.49 }
    pop-sin = { location = "sin", region = "ap-southeast", lat = 1.29, lon = 103.85 }
  }
}

# In the state and in the servers' user data: keep the state encrypted and access-restricted.
resource "random_password" "cluster_secret" {
  length  = 48
  special = false
}

resource "random_password" "admin_token" {
  length  = 48
  special = false
}

module "config" {
  source = "../../modules/warren-pop-config"

  zone          = var.zone
  bootstrap_pop = "pop-fsn"
  pops = [for id, p in local.pops : {
    id              = id
    region          = p.region
    lat             = p.lat
    lon             = p.lon
    public_ipv4     = module.pop[id].public_ipv4
    public_ipv6     = module.pop[id].public_ipv6
    cluster_address = module.pop[id].public_ipv4
    bind_address    = "::" # IPv4 and IPv6
  }]
  warren_binary_url    = var.warren_binary_url
  warren_binary_sha256 = var.warren_binary_sha256
  cluster_secret       = random_password.cluster_secret.result
  admin_token          = random_password.admin_token.result
}

# One provider serves every location, so one module block covers the three PoPs.
module "pop" {
  source   = "../../modules/warren-pop-hcloud"
  for_each = local.pops

  pop_id      = each.key
  location    = each.value.location
  user_data   = module.config.user_data[each.key]
  firewall    = module.config.firewall
  server_type = var.server_type
  ssh_key_ids = var.ssh_key_ids
  ssh_cidrs   = var.ssh_cidrs
  labels      = { project = "warren" }
}

variable "zone" {
  description = "The edge's zone, delegated to the PoPs."
  type        = string
}

variable "warren_binary_url" {
  description = "https URL of a linux warren binary matching server_type's architecture."
  type        = string
}

variable "warren_binary_sha256" {
  type = string
}

variable "server_type" {
  type    = string
  default = "cpx11" # x86_64, available in every location
}

variable "ssh_key_ids" {
  type    = list(string)
  default = []
}

variable "ssh_cidrs" {
  type    = list(string)
  default = []
}

output "public_addresses" {
  value = { for id, m in module.pop : id => { ipv4 = m.public_ipv4, ipv6 = m.public_ipv6 } }
}

output "parent_zone_records" {
  value = module.config.parent_zone_records
}

output "admin_token" {
  value     = random_password.admin_token.result
  sensitive = true
}
