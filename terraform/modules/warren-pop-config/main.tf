locals {
  secret_file        = coalesce(var.secret_file, "${var.config_dir}/cluster.secret")
  admin_token_file   = coalesce(var.admin_token_file, "${var.config_dir}/admin.token")
  global_policy_file = var.global_policy == null ? null : "${var.config_dir}/operator-policy.yaml"

  # host:port, with IPv6 literals in brackets.
  bracket = { for p in var.pops : p.id => {
    bind    = strcontains(p.bind_address, ":") ? "[${p.bind_address}]" : p.bind_address
    admin   = strcontains(p.admin_address, ":") ? "[${p.admin_address}]" : p.admin_address
    cluster = strcontains(p.cluster_address, ":") ? "[${p.cluster_address}]" : p.cluster_address
  } }

  # cluster.peers: every PoP's cluster address, the same map in every pop.yaml.
  peers = { for p in var.pops : p.id => "${local.bracket[p.id].cluster}:${var.ports.cluster}" }

  # Everything one pop.yaml says, as data (the yaml below and the tests read this).
  pop = { for p in var.pops : p.id => {
    id          = p.id
    region      = p.region
    lat         = p.lat
    lon         = p.lon
    public_ipv4 = p.public_ipv4
    public_ipv6 = p.public_ipv6
    data_dir    = coalesce(p.data_dir, var.data_dir)
    listen = {
      http    = "${local.bracket[p.id].bind}:${var.ports.http}"
      https   = "${local.bracket[p.id].bind}:${var.ports.https}"
      tunnel  = "${local.bracket[p.id].bind}:${var.ports.tunnel}"
      cluster = "${local.bracket[p.id].bind}:${var.ports.cluster}"
      dns     = "${local.bracket[p.id].bind}:${var.ports.dns}"
      admin   = "${local.bracket[p.id].admin}:${var.ports.admin}"
    }
    bootstrap = p.id == var.bootstrap_pop
  } }

  pop_yaml = { for id, c in local.pop : id => templatefile("${path.module}/templates/pop.yaml.tftpl", {
    c                  = c
    zone               = var.zone
    tcp_ports          = var.tcp_ports
    peers              = local.peers
    secret_file        = local.secret_file
    tls                = var.tls
    admin_token_file   = local.admin_token_file
    global_policy_file = local.global_policy_file
    geo_mmdb           = var.geo_mmdb
    geo_networks       = var.geo_networks
    health             = var.health
    dns_ttl            = var.dns_ttl
  }) }

  # Name servers: PoP ID is ns-ID.ZONE, with glue = its public addresses. The parent zone
  # delegates ZONE to all of them, so a resolver may ask any PoP.
  ns_names = { for p in var.pops : p.id => "ns-${p.id}.${var.zone}" }
  glue_records = flatten([for p in var.pops : concat(
    [{ name = local.ns_names[p.id], type = "A", value = p.public_ipv4 }],
    p.public_ipv6 == null ? [] : [{ name = local.ns_names[p.id], type = "AAAA", value = p.public_ipv6 }],
  )])
  parent_zone_records = join("", concat(
    [for p in var.pops : "${var.zone}.\t${var.ns_ttl}\tIN\tNS\t${local.ns_names[p.id]}.\n"],
    [for g in local.glue_records : "${g.name}.\t${var.ns_ttl}\tIN\t${g.type}\t${g.value}\n"],
  ))

  # The firewall model every cloud module implements: public ports open to the world, the
  # cluster port only between PoPs, the admin port never (it binds to loopback by default).
  tcp_ports_range = var.tcp_ports == null ? null : [for x in split("-", var.tcp_ports) : tonumber(x)]
  firewall = {
    public = concat([
      { name = "http", protocol = "tcp", from_port = var.ports.http, to_port = var.ports.http },
      { name = "https", protocol = "tcp", from_port = var.ports.https, to_port = var.ports.https },
      { name = "tunnel-quic", protocol = "udp", from_port = var.ports.tunnel, to_port = var.ports.tunnel },
      { name = "tunnel-tcp", protocol = "tcp", from_port = var.ports.tunnel, to_port = var.ports.tunnel },
      { name = "dns-udp", protocol = "udp", from_port = var.ports.dns, to_port = var.ports.dns },
      { name = "dns-tcp", protocol = "tcp", from_port = var.ports.dns, to_port = var.ports.dns },
      ], local.tcp_ports_range == null ? [] : [
      { name = "tcp-endpoints", protocol = "tcp", from_port = local.tcp_ports_range[0], to_port = local.tcp_ports_range[1] },
    ])
    # Raft and request forwarding run over TCP today; UDP is opened too so a QUIC cluster
    # transport needs no firewall change. Both only from the PoPs' own addresses.
    cluster = [
      { name = "cluster-tcp", protocol = "tcp", from_port = var.ports.cluster, to_port = var.ports.cluster },
      { name = "cluster-udp", protocol = "udp", from_port = var.ports.cluster, to_port = var.ports.cluster },
    ]
    # One entry per PoP (so cloud modules can key rules by position while the addresses are
    # still unknown at plan time), then the extra networks, e.g. a VPC when PoPs dial each
    # other on private cluster_address(es).
    cluster_sources_ipv4 = concat(
      [for p in var.pops : "${p.public_ipv4}/32"],
      [for c in var.extra_cluster_cidrs : c if !strcontains(c, ":")],
    )
    cluster_sources_ipv6 = concat(
      [for p in var.pops : "${p.public_ipv6}/128" if p.public_ipv6 != null],
      [for c in var.extra_cluster_cidrs : c if strcontains(c, ":")],
    )
    admin_port = var.ports.admin
  }

  # cloud-init: only when the module is told where the binary comes from.
  install = var.warren_binary_url != null || var.warren_binary_path != null
  # Read only when needed, so the module also works copied without the repository around it.
  systemd_unit = local.install ? coalesce(var.systemd_unit, file("${path.module}/../../../deploy/systemd/warren-pop.service")) : null
  user_data = { for id, c in local.pop : id => templatefile("${path.module}/templates/cloud-init.yaml.tftpl", {
    id                 = id
    pop_yaml           = local.pop_yaml[id]
    config_dir         = var.config_dir
    data_dir           = c.data_dir
    secret_file        = local.secret_file
    cluster_secret     = var.cluster_secret == null ? "" : var.cluster_secret
    admin_token_file   = local.admin_token_file
    admin_token        = var.admin_token == null ? "" : var.admin_token
    global_policy_file = local.global_policy_file
    global_policy      = var.global_policy
    binary_url         = var.warren_binary_url
    systemd_unit       = local.systemd_unit
    dropin             = templatefile("${path.module}/templates/10-terraform.conf.tftpl", { data_dir = c.data_dir, config_dir = var.config_dir })
    install_script = templatefile("${path.module}/templates/warren-install.sh.tftpl", {
      data_dir      = c.data_dir
      config_dir    = var.config_dir
      binary_url    = var.warren_binary_url
      binary_sha256 = var.warren_binary_sha256
      binary_path   = var.warren_binary_path
    })
  }) if local.install }
}
