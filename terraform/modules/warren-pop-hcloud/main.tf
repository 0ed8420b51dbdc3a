# One Warren PoP on Hetzner Cloud: primary IPs that outlive the server (the PoP's public
# addresses, allocated first so the core module can render every PoP's config with them), a
# firewall implementing the firewall model, and a server that cloud-init turns into a PoP.

locals {
  name   = "warren-${var.pop_id}"
  labels = merge(var.labels, { "warren-pop" = var.pop_id })
  world  = ["0.0.0.0/0", "::/0"]
  # Hetzner firewall ports: "80" or "20000-20999".
  port = { for r in concat(var.firewall.public, var.firewall.cluster) : r.name => r.from_port == r.to_port ? tostring(r.from_port) : "${r.from_port}-${r.to_port}" }
}

resource "hcloud_primary_ip" "ipv4" {
  name          = "${local.name}-ipv4"
  type          = "ipv4"
  location      = var.location
  assignee_type = "server"
  auto_delete   = false # in every PoP's config, in GSLB answers and in the parent zone's glue: keep it
  labels        = local.labels
}

resource "hcloud_primary_ip" "ipv6" {
  count         = var.ipv6 ? 1 : 0
  name          = "${local.name}-ipv6"
  type          = "ipv6"
  location      = var.location
  assignee_type = "server"
  auto_delete   = false
  labels        = local.labels
}

resource "hcloud_firewall" "pop" {
  name   = local.name
  labels = local.labels

  dynamic "rule" {
    for_each = var.firewall.public
    content {
      description = "warren ${rule.value.name}"
      direction   = "in"
      protocol    = rule.value.protocol
      port        = local.port[rule.value.name]
      source_ips  = local.world
    }
  }

  dynamic "rule" {
    for_each = var.firewall.cluster
    content {
      description = "warren ${rule.value.name} from the PoPs"
      direction   = "in"
      protocol    = rule.value.protocol
      port        = local.port[rule.value.name]
      source_ips  = concat(var.firewall.cluster_sources_ipv4, var.firewall.cluster_sources_ipv6)
    }
  }

  dynamic "rule" {
    for_each = length(var.ssh_cidrs) > 0 ? [1] : []
    content {
      description = "ssh"
      direction   = "in"
      protocol    = "tcp"
      port        = "22"
      source_ips  = var.ssh_cidrs
    }
  }

  dynamic "rule" {
    for_each = length(var.admin_cidrs) > 0 ? [1] : []
    content {
      description = "warren admin API"
      direction   = "in"
      protocol    = "tcp"
      port        = tostring(var.firewall.admin_port)
      source_ips  = var.admin_cidrs
    }
  }
}

resource "hcloud_server" "pop" {
  name         = local.name
  server_type  = var.server_type
  image        = var.image
  location     = var.location
  user_data    = var.user_data
  ssh_keys     = var.ssh_key_ids
  firewall_ids = [hcloud_firewall.pop.id]
  labels       = local.labels

  public_net {
    ipv4_enabled = true
    ipv4         = hcloud_primary_ip.ipv4.id
    ipv6_enabled = var.ipv6
    ipv6         = var.ipv6 ? hcloud_primary_ip.ipv6[0].id : null
  }
}
