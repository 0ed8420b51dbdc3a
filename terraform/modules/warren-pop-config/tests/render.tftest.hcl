# Offline tests of the rendered files: `terraform test` in terraform/modules/warren-pop-config.
# No provider, no resource: every run is a plan, and outputs are known at plan time.

variables {
  zone          = "edge.example.com"
  bootstrap_pop = "pop-fra"
  pops = [
    { id = "pop-fra", region = "eu-central", lat = 50.11, lon = 8.68, public_ipv4 = "203.0.113.10", public_ipv6 = "2001:db8::10", cluster_address = "10.0.0.1" },
    { id = "pop-iad", region = "us-east", lat = 39.04, lon = -77.49, public_ipv4 = "203.0.113.20", cluster_address = "10.0.0.2" },
    { id = "pop-sin", region = "ap-southeast", lat = 1.35, lon = 103.82, public_ipv4 = "203.0.113.30", cluster_address = "pop-sin.internal.example" },
  ]
}

run "pop_yaml_has_the_contract_keys" {
  command = plan

  assert {
    condition     = output.ids == ["pop-fra", "pop-iad", "pop-sin"]
    error_message = "ids in input order"
  }
  assert {
    condition = sort(keys(yamldecode(output.pop_yaml["pop-fra"]))) == sort([
      "id", "region", "location", "public_ipv4", "public_ipv6", "zone", "data_dir", "listen", "tcp_ports",
      "cluster", "tls", "admin_token_file", "health", "dns",
    ])
    error_message = "pop-fra's pop.yaml keys: ${join(", ", keys(yamldecode(output.pop_yaml["pop-fra"])))}"
  }
  assert {
    condition     = !contains(keys(yamldecode(output.pop_yaml["pop-iad"])), "public_ipv6")
    error_message = "public_ipv6 is left out where it is not set"
  }
  assert {
    condition = yamldecode(output.pop_yaml["pop-iad"]).listen == {
      http = "0.0.0.0:80", https = "0.0.0.0:443", tunnel = "0.0.0.0:4443", cluster = "0.0.0.0:7443",
      dns  = "0.0.0.0:53", admin = "127.0.0.1:9090",
    }
    error_message = "listen: ${jsonencode(yamldecode(output.pop_yaml["pop-iad"]).listen)}"
  }
  assert {
    condition = [for id in output.ids : yamldecode(output.pop_yaml[id]).id] == output.ids && alltrue([
      for id in output.ids : yamldecode(output.pop_yaml[id]).zone == "edge.example.com"
    ])
    error_message = "each file names its own PoP and the zone"
  }
  assert {
    condition     = yamldecode(output.pop_yaml["pop-iad"]).location == { lat = 39.04, lon = -77.49 }
    error_message = "location: ${jsonencode(yamldecode(output.pop_yaml["pop-iad"]).location)}"
  }
  assert {
    condition     = yamldecode(output.pop_yaml["pop-fra"]).public_ipv4 == "203.0.113.10" && yamldecode(output.pop_yaml["pop-fra"]).public_ipv6 == "2001:db8::10"
    error_message = "public addresses"
  }
  assert {
    condition = yamldecode(output.pop_yaml["pop-sin"]).data_dir == "/var/lib/warren" && yamldecode(output.pop_yaml["pop-sin"]).tls == {
      dev_ca_dir = "/var/lib/warren/ca"
    }
    error_message = "data_dir and the dev CA under it by default"
  }
  assert {
    condition = (
      yamldecode(output.pop_yaml["pop-sin"]).admin_token_file == "/etc/warren/admin.token" &&
      yamldecode(output.pop_yaml["pop-sin"]).tcp_ports == "20000-20999" &&
      yamldecode(output.pop_yaml["pop-sin"]).health == { interval_ms = 1000, fall = 3, rise = 2 } &&
      yamldecode(output.pop_yaml["pop-sin"]).dns == { ttl = 30 }
    )
    error_message = "defaults: admin_token_file, tcp_ports, health, dns.ttl"
  }
}

run "exactly_one_bootstrap_and_the_same_peers_everywhere" {
  command = plan

  assert {
    condition     = [for id in output.ids : yamldecode(output.pop_yaml[id]).cluster.bootstrap] == [true, false, false]
    error_message = "only pop-fra bootstraps"
  }
  assert {
    condition = alltrue([for id in output.ids : yamldecode(output.pop_yaml[id]).cluster == {
      bootstrap = id == "pop-fra"
      peers = {
        pop-fra = "10.0.0.1:7443"
        pop-iad = "10.0.0.2:7443"
        pop-sin = "pop-sin.internal.example:7443"
      }
      secret_file = "/etc/warren/cluster.secret"
    }])
    error_message = "cluster section: ${jsonencode(yamldecode(output.pop_yaml["pop-iad"]).cluster)}"
  }
}

run "ns_and_glue_records_for_the_parent_zone" {
  command = plan

  assert {
    condition     = output.delegation.ns == ["ns-pop-fra.edge.example.com", "ns-pop-iad.edge.example.com", "ns-pop-sin.edge.example.com"]
    error_message = "every PoP is a name server of the zone"
  }
  assert {
    condition = output.glue_records == [
      { name = "ns-pop-fra.edge.example.com", type = "A", value = "203.0.113.10" },
      { name = "ns-pop-fra.edge.example.com", type = "AAAA", value = "2001:db8::10" },
      { name = "ns-pop-iad.edge.example.com", type = "A", value = "203.0.113.20" },
      { name = "ns-pop-sin.edge.example.com", type = "A", value = "203.0.113.30" },
    ]
    error_message = "glue: ${jsonencode(output.glue_records)}"
  }
  assert {
    condition = output.parent_zone_records == join("", [
      "edge.example.com.\t86400\tIN\tNS\tns-pop-fra.edge.example.com.\n",
      "edge.example.com.\t86400\tIN\tNS\tns-pop-iad.edge.example.com.\n",
      "edge.example.com.\t86400\tIN\tNS\tns-pop-sin.edge.example.com.\n",
      "ns-pop-fra.edge.example.com.\t86400\tIN\tA\t203.0.113.10\n",
      "ns-pop-fra.edge.example.com.\t86400\tIN\tAAAA\t2001:db8::10\n",
      "ns-pop-iad.edge.example.com.\t86400\tIN\tA\t203.0.113.20\n",
      "ns-pop-sin.edge.example.com.\t86400\tIN\tA\t203.0.113.30\n",
    ])
    error_message = "zone-file lines:\n${output.parent_zone_records}"
  }
}

run "firewall_model" {
  command = plan

  assert {
    condition = [for r in output.firewall.public : "${r.protocol}/${r.from_port}-${r.to_port}"] == [
      "tcp/80-80", "tcp/443-443", "udp/4443-4443", "tcp/4443-4443", "udp/53-53", "tcp/53-53", "tcp/20000-20999",
    ]
    error_message = "public rules: ${jsonencode(output.firewall.public)}"
  }
  assert {
    condition     = [for r in output.firewall.cluster : "${r.protocol}/${r.from_port}"] == ["tcp/7443", "udp/7443"]
    error_message = "cluster rules"
  }
  assert {
    condition     = output.firewall.cluster_sources_ipv4 == ["203.0.113.10/32", "203.0.113.20/32", "203.0.113.30/32"]
    error_message = "cluster sources: ${jsonencode(output.firewall.cluster_sources_ipv4)}"
  }
  assert {
    condition     = output.firewall.cluster_sources_ipv6 == ["2001:db8::10/128"]
    error_message = "cluster sources v6"
  }
  assert {
    condition     = !contains(flatten([for r in output.firewall.public : [r.from_port, r.to_port]]), 9090) && output.firewall.admin_port == 9090
    error_message = "the admin port is never public"
  }
}

run "no_user_data_without_an_install_source" {
  command = plan

  assert {
    condition     = length(output.user_data) == 0
    error_message = "user_data needs warren_binary_url or warren_binary_path"
  }
}

run "cloud_init_from_a_url" {
  command = plan

  variables {
    warren_binary_url    = "https://downloads.example.com/warren/v1/warren-x86_64-linux"
    warren_binary_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    cluster_secret       = "cluster-secret-cluster-secret-cluster-secret"
    admin_token          = "admin-token-admin-token-admin-token-admin"
    systemd_unit         = "[Service]\nExecStart=/usr/local/bin/warren pop --config /etc/warren/pop.yaml\n"
  }

  assert {
    condition     = keys(output.user_data) == ["pop-fra", "pop-iad", "pop-sin"]
    error_message = "one user data per PoP"
  }
  assert {
    condition     = startswith(output.user_data["pop-iad"], "#cloud-config\n")
    error_message = "cloud-init needs the #cloud-config header"
  }
  assert {
    condition     = [for u in yamldecode(output.user_data["pop-iad"]).users : try(u.name, u)] == ["default", "warren"]
    error_message = "keeps the image's default user and adds the warren system user"
  }
  assert {
    condition = [for f in yamldecode(output.user_data["pop-iad"]).write_files : f.path] == [
      "/etc/warren/pop.yaml", "/etc/warren/cluster.secret", "/etc/warren/admin.token",
      "/etc/systemd/system/warren-pop.service", "/etc/systemd/system/warren-pop.service.d/10-terraform.conf",
      "/usr/local/sbin/warren-install",
    ]
    error_message = "files written by cloud-init"
  }
  assert {
    condition     = base64decode(yamldecode(output.user_data["pop-iad"]).write_files[0].content) == output.pop_yaml["pop-iad"]
    error_message = "cloud-init writes exactly the rendered pop.yaml"
  }
  assert {
    condition = (
      base64decode(yamldecode(output.user_data["pop-iad"]).write_files[1].content) == "cluster-secret-cluster-secret-cluster-secret" &&
      base64decode(yamldecode(output.user_data["pop-iad"]).write_files[2].content) == "admin-token-admin-token-admin-token-admin" &&
      alltrue([for f in slice(yamldecode(output.user_data["pop-iad"]).write_files, 0, 3) : f.owner == "root:warren" && f.permissions == "0640" && f.defer])
    )
    error_message = "secret and admin token: readable by group warren only, written after the user exists"
  }
  assert {
    condition     = base64decode(yamldecode(output.user_data["pop-iad"]).write_files[3].content) == "[Service]\nExecStart=/usr/local/bin/warren pop --config /etc/warren/pop.yaml\n"
    error_message = "the unit is installed as given"
  }
  assert {
    condition = alltrue([for s in [
      "curl -fsSL --proto '=https' --tlsv1.2 --retry 5 --retry-delay 2 -o \"$tmp\" 'https://downloads.example.com/warren/v1/warren-x86_64-linux'\n",
      "echo '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  '\"$tmp\" | sha256sum -c -\n",
      "install -d -o warren -g warren -m 0750 '/var/lib/warren'\n",
      "/usr/local/bin/warren pop --config '/etc/warren/pop.yaml' --check\n",
      "systemctl enable --now warren-pop.service\n",
    ] : strcontains(base64decode(yamldecode(output.user_data["pop-iad"]).write_files[5].content), s)])
    error_message = "install script:\n${nonsensitive(base64decode(yamldecode(output.user_data["pop-iad"]).write_files[5].content))}"
  }
  assert {
    condition     = startswith(base64decode(yamldecode(output.user_data["pop-iad"]).write_files[5].content), "#!/bin/sh\n")
    error_message = "the install script starts with its shebang"
  }
  assert {
    condition     = yamldecode(output.user_data["pop-iad"]).packages == ["curl", "ca-certificates"] && yamldecode(output.user_data["pop-iad"]).runcmd == [["/usr/local/sbin/warren-install"]]
    error_message = "packages and runcmd"
  }
}

run "cloud_init_from_a_path_uses_the_repository_unit" {
  command = plan

  variables {
    warren_binary_path = "/opt/warren/bin/warren"
    cluster_secret     = "cluster-secret-cluster-secret-cluster-secret"
    admin_token        = "admin-token-admin-token-admin-token-admin"
    data_dir           = "/srv/warren"
  }

  assert {
    condition     = strcontains(base64decode(yamldecode(output.user_data["pop-fra"]).write_files[5].content), "install -o root -g root -m 0755 '/opt/warren/bin/warren' /usr/local/bin/warren\n")
    error_message = "installs the binary from the image"
  }
  assert {
    condition     = !strcontains(output.user_data["pop-fra"], "packages:") && !strcontains(base64decode(yamldecode(output.user_data["pop-fra"]).write_files[5].content), "curl")
    error_message = "no download, no packages"
  }
  assert {
    condition     = base64decode(yamldecode(output.user_data["pop-fra"]).write_files[3].content) == file("${path.module}/../../../deploy/systemd/warren-pop.service")
    error_message = "the unit of deploy/systemd by default"
  }
  assert {
    condition     = strcontains(base64decode(yamldecode(output.user_data["pop-fra"]).write_files[4].content), "[Service]\nReadWritePaths=/srv/warren\n")
    error_message = "the drop-in lets the service write data_dir:\n${nonsensitive(base64decode(yamldecode(output.user_data["pop-fra"]).write_files[4].content))}"
  }
  assert {
    condition     = yamldecode(output.pop_yaml["pop-fra"]).tls.dev_ca_dir == "/srv/warren/ca"
    error_message = "the dev CA lives in data_dir"
  }
}

run "ipv6_addresses_production_tls_geo_and_policy" {
  command = plan

  variables {
    bootstrap_pop = "pop-b"
    pops = [
      { id = "pop-a", lat = 0, lon = 0, public_ipv4 = "198.51.100.1", cluster_address = "2001:db8:1::1", bind_address = "::", admin_address = "::1", data_dir = "/data/a" },
      { id = "pop-b", lat = -33.87, lon = 151.21, public_ipv4 = "198.51.100.2", cluster_address = "2001:db8:1::2" },
    ]
    ports               = { http = 8080, https = 8443, dns = 5353 }
    tcp_ports           = null
    tls                 = { cert_file = "/etc/warren/tls/fullchain.pem", key_file = "/etc/warren/tls/key.pem" }
    geo_networks        = [{ cidr = "192.0.2.0/24", lat = 48.86, lon = 2.35 }, { cidr = "2001:db8:ff::/48", lat = 52.52, lon = 13.40 }]
    geo_mmdb            = "/usr/share/GeoIP/GeoLite2-City.mmdb"
    global_policy       = "on_http_request: []\n"
    dns_ttl             = 60
    config_dir          = "/opt/warren/etc"
    extra_cluster_cidrs = ["10.20.0.0/16", "2001:db8:1::/48"]
  }

  assert {
    condition = yamldecode(output.pop_yaml["pop-a"]).listen == {
      http = "[::]:8080", https = "[::]:8443", tunnel = "[::]:4443", cluster = "[::]:7443", dns = "[::]:5353", admin = "[::1]:9090",
    }
    error_message = "IPv6 listeners are bracketed: ${jsonencode(yamldecode(output.pop_yaml["pop-a"]).listen)}"
  }
  assert {
    condition     = yamldecode(output.pop_yaml["pop-a"]).cluster.peers == { pop-a = "[2001:db8:1::1]:7443", pop-b = "[2001:db8:1::2]:7443" }
    error_message = "IPv6 peers are bracketed"
  }
  assert {
    condition     = [yamldecode(output.pop_yaml["pop-a"]).cluster.bootstrap, yamldecode(output.pop_yaml["pop-b"]).cluster.bootstrap] == [false, true]
    error_message = "bootstrap follows bootstrap_pop"
  }
  assert {
    condition     = yamldecode(output.pop_yaml["pop-a"]).data_dir == "/data/a" && yamldecode(output.pop_yaml["pop-b"]).data_dir == "/var/lib/warren"
    error_message = "per-PoP data_dir"
  }
  assert {
    condition     = yamldecode(output.pop_yaml["pop-a"]).tls == { cert = "/etc/warren/tls/fullchain.pem", key = "/etc/warren/tls/key.pem" }
    error_message = "production certificate"
  }
  assert {
    condition = yamldecode(output.pop_yaml["pop-a"]).geo == {
      mmdb = "/usr/share/GeoIP/GeoLite2-City.mmdb"
      networks = [
        { cidr = "192.0.2.0/24", lat = 48.86, lon = 2.35 },
        { cidr = "2001:db8:ff::/48", lat = 52.52, lon = 13.4 },
      ]
    }
    error_message = "geo: ${jsonencode(yamldecode(output.pop_yaml["pop-a"]).geo)}"
  }
  assert {
    condition = (
      yamldecode(output.pop_yaml["pop-a"]).global_policy_file == "/opt/warren/etc/operator-policy.yaml" &&
      yamldecode(output.pop_yaml["pop-a"]).cluster.secret_file == "/opt/warren/etc/cluster.secret" &&
      yamldecode(output.pop_yaml["pop-a"]).admin_token_file == "/opt/warren/etc/admin.token"
    )
    error_message = "files under config_dir"
  }
  assert {
    condition     = !contains(keys(yamldecode(output.pop_yaml["pop-a"])), "tcp_ports") && yamldecode(output.pop_yaml["pop-a"]).dns.ttl == 60
    error_message = "tcp_ports = null leaves the key out"
  }
  assert {
    condition     = [for r in output.firewall.public : r.name] == ["http", "https", "tunnel-quic", "tunnel-tcp", "dns-udp", "dns-tcp"]
    error_message = "no tcp-endpoints rule without tcp_ports"
  }
  assert {
    condition     = output.firewall.cluster_sources_ipv4 == ["198.51.100.1/32", "198.51.100.2/32", "10.20.0.0/16"] && output.firewall.cluster_sources_ipv6 == ["2001:db8:1::/48"]
    error_message = "the PoPs' public addresses and extra_cluster_cidrs: ${jsonencode(output.firewall)}"
  }
}
