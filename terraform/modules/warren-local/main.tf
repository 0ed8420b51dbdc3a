locals {
  pops = [for i, p in var.pops : merge(p, {
    address = "127.0.0.${var.first_host + i}"
    dir     = "${var.state_dir}/${p.id}"
  })]
}

module "config" {
  source = "../warren-pop-config"

  zone          = var.zone
  bootstrap_pop = var.pops[0].id
  pops = [for p in local.pops : {
    id              = p.id
    region          = p.region
    lat             = p.lat
    lon             = p.lon
    public_ipv4     = p.address
    cluster_address = p.address
    bind_address    = p.address
    admin_address   = p.address
    data_dir        = "${p.dir}/data"
  }]
  ports      = var.ports
  tcp_ports  = null
  config_dir = var.state_dir
  health     = { interval_ms = 500 }
}

# The folder, the cluster secret and the admin token. Secrets are made by the shell at create
# time, so they never enter the Terraform state; destroy removes the whole folder.
resource "terraform_data" "cluster" {
  input = {
    state_dir        = var.state_dir
    secret_file      = module.config.secret_file
    admin_token_file = module.config.admin_token_file
    scripts          = abspath("${path.module}/scripts")
  }

  provisioner "local-exec" {
    command = "${self.input.scripts}/cluster-up.sh"
    environment = {
      STATE_DIR        = self.input.state_dir
      SECRET_FILE      = self.input.secret_file
      ADMIN_TOKEN_FILE = self.input.admin_token_file
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${self.input.scripts}/cluster-down.sh"
    environment = {
      STATE_DIR = self.input.state_dir
    }
  }
}

# One warren pop process per PoP, in the background with a pid file. A new config or binary
# replaces it: the old process is stopped, the new one started and waited for.
resource "terraform_data" "pop" {
  for_each = { for p in local.pops : p.id => p }

  triggers_replace = {
    pop_yaml = module.config.pop_yaml[each.key]
    binary   = var.warren_binary
    cluster  = terraform_data.cluster.id
  }

  input = {
    dir       = each.value.dir
    scripts   = terraform_data.cluster.input.scripts
    admin_url = "http://${module.config.pops[each.key].listen.admin}"
  }

  provisioner "local-exec" {
    command = "${self.input.scripts}/pop-up.sh"
    environment = {
      WARREN_BIN      = var.warren_binary
      POP_DIR         = self.input.dir
      POP_YAML        = module.config.pop_yaml[each.key]
      ADMIN_URL       = self.input.admin_url
      STARTUP_TIMEOUT = tostring(var.startup_timeout_seconds)
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${self.input.scripts}/pop-down.sh"
    environment = {
      POP_DIR = self.input.dir
    }
  }
}
