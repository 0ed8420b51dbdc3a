# Invalid inputs fail at plan time with the variable's own message (`expect_failures`).

variables {
  zone          = "edge.example.com"
  bootstrap_pop = "pop-a"
  pops = [
    { id = "pop-a", lat = 50.11, lon = 8.68, public_ipv4 = "203.0.113.10", cluster_address = "10.0.0.1" },
    { id = "pop-b", lat = 39.04, lon = -77.49, public_ipv4 = "203.0.113.20", cluster_address = "10.0.0.2" },
  ]
}

run "the_baseline_is_valid" {
  command = plan
  assert {
    condition     = length(output.pop_yaml) == 2
    error_message = "two PoPs"
  }
}

run "id_with_upper_case" {
  command = plan
  variables {
    bootstrap_pop = "Pop-A"
    pops          = [{ id = "Pop-A", lat = 0, lon = 0, public_ipv4 = "203.0.113.10", cluster_address = "10.0.0.1" }]
  }
  expect_failures = [var.pops]
}

run "id_too_long" {
  command = plan
  variables {
    bootstrap_pop = "pop-abcdefghijklmnopqrstuvwxyz-012"
    pops          = [{ id = "pop-abcdefghijklmnopqrstuvwxyz-012", lat = 0, lon = 0, public_ipv4 = "203.0.113.10", cluster_address = "10.0.0.1" }]
  }
  expect_failures = [var.pops]
}

run "id_ending_in_a_hyphen" {
  command = plan
  variables {
    bootstrap_pop = "pop-"
    pops          = [{ id = "pop-", lat = 0, lon = 0, public_ipv4 = "203.0.113.10", cluster_address = "10.0.0.1" }]
  }
  expect_failures = [var.pops]
}

run "duplicate_ids" {
  command = plan
  variables {
    pops = [
      { id = "pop-a", lat = 0, lon = 0, public_ipv4 = "203.0.113.10", cluster_address = "10.0.0.1" },
      { id = "pop-a", lat = 1, lon = 1, public_ipv4 = "203.0.113.20", cluster_address = "10.0.0.2" },
    ]
  }
  expect_failures = [var.pops]
}

run "no_pops" {
  command = plan
  variables {
    pops = []
  }
  expect_failures = [var.pops]
}

run "bootstrap_pop_not_in_the_list" {
  command = plan
  variables {
    bootstrap_pop = "pop-z"
  }
  expect_failures = [var.bootstrap_pop]
}

run "public_ipv4_not_an_address" {
  command = plan
  variables {
    pops = [{ id = "pop-a", lat = 0, lon = 0, public_ipv4 = "203.0.113.300", cluster_address = "10.0.0.1" }]
  }
  expect_failures = [var.pops]
}

run "public_ipv4_with_a_prefix" {
  command = plan
  variables {
    pops = [{ id = "pop-a", lat = 0, lon = 0, public_ipv4 = "203.0.113.0/24", cluster_address = "10.0.0.1" }]
  }
  expect_failures = [var.pops]
}

run "public_ipv4_given_an_ipv6_address" {
  command = plan
  variables {
    pops = [{ id = "pop-a", lat = 0, lon = 0, public_ipv4 = "2001:db8::1", cluster_address = "10.0.0.1" }]
  }
  expect_failures = [var.pops]
}

run "public_ipv6_given_an_ipv4_address" {
  command = plan
  variables {
    pops = [{ id = "pop-a", lat = 0, lon = 0, public_ipv4 = "203.0.113.10", public_ipv6 = "203.0.113.11", cluster_address = "10.0.0.1" }]
  }
  expect_failures = [var.pops]
}

run "shared_public_ipv4" {
  command = plan
  variables {
    pops = [
      { id = "pop-a", lat = 0, lon = 0, public_ipv4 = "203.0.113.10", cluster_address = "10.0.0.1" },
      { id = "pop-b", lat = 1, lon = 1, public_ipv4 = "203.0.113.10", cluster_address = "10.0.0.2" },
    ]
  }
  expect_failures = [var.pops]
}

run "cluster_address_with_a_port" {
  command = plan
  variables {
    pops = [{ id = "pop-a", lat = 0, lon = 0, public_ipv4 = "203.0.113.10", cluster_address = "10.0.0.1:7443" }]
  }
  expect_failures = [var.pops]
}

run "bind_address_that_is_a_name" {
  command = plan
  variables {
    pops = [{ id = "pop-a", lat = 0, lon = 0, public_ipv4 = "203.0.113.10", cluster_address = "10.0.0.1", bind_address = "edge.internal" }]
  }
  expect_failures = [var.pops]
}

run "latitude_out_of_range" {
  command = plan
  variables {
    pops = [{ id = "pop-a", lat = 91, lon = 0, public_ipv4 = "203.0.113.10", cluster_address = "10.0.0.1" }]
  }
  expect_failures = [var.pops]
}

run "zone_with_upper_case" {
  command = plan
  variables {
    zone = "Edge.Example.com"
  }
  expect_failures = [var.zone]
}

run "zone_with_a_single_label" {
  command = plan
  variables {
    zone = "localhost"
  }
  expect_failures = [var.zone]
}

run "two_listeners_on_one_port" {
  command = plan
  variables {
    ports = { http = 8080, admin = 8080 }
  }
  expect_failures = [var.ports]
}

run "port_out_of_range" {
  command = plan
  variables {
    ports = { dns = 70000 }
  }
  expect_failures = [var.ports]
}

run "tcp_ports_backwards" {
  command = plan
  variables {
    tcp_ports = "20999-20000"
  }
  expect_failures = [var.tcp_ports]
}

run "geo_network_without_a_prefix" {
  command = plan
  variables {
    geo_networks = [{ cidr = "192.0.2.0", lat = 0, lon = 0 }]
  }
  expect_failures = [var.geo_networks]
}

run "geo_network_not_a_cidr" {
  command = plan
  variables {
    geo_networks = [{ cidr = "192.0.2.0/33", lat = 0, lon = 0 }]
  }
  expect_failures = [var.geo_networks]
}

run "relative_data_dir" {
  command = plan
  variables {
    data_dir = "data"
  }
  expect_failures = [var.data_dir]
}

run "binary_url_without_its_sha256" {
  command = plan
  variables {
    warren_binary_url = "https://downloads.example.com/warren"
    cluster_secret    = "cluster-secret-cluster-secret-cluster-secret"
    admin_token       = "admin-token-admin-token-admin-token-admin"
  }
  expect_failures = [var.warren_binary_url]
}

run "binary_url_over_http" {
  command = plan
  variables {
    warren_binary_url    = "http://downloads.example.com/warren"
    warren_binary_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    cluster_secret       = "cluster-secret-cluster-secret-cluster-secret"
    admin_token          = "admin-token-admin-token-admin-token-admin"
  }
  expect_failures = [var.warren_binary_url]
}

run "binary_url_and_path_together" {
  command = plan
  variables {
    warren_binary_url    = "https://downloads.example.com/warren"
    warren_binary_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    warren_binary_path   = "/opt/warren"
    cluster_secret       = "cluster-secret-cluster-secret-cluster-secret"
    admin_token          = "admin-token-admin-token-admin-token-admin"
  }
  expect_failures = [var.warren_binary_url]
}

run "user_data_without_secrets" {
  command = plan
  variables {
    warren_binary_path = "/opt/warren"
  }
  expect_failures = [var.cluster_secret, var.admin_token]
}

run "short_cluster_secret" {
  command = plan
  variables {
    warren_binary_path = "/opt/warren"
    cluster_secret     = "short"
    admin_token        = "admin-token-admin-token-admin-token-admin"
  }
  expect_failures = [var.cluster_secret]
}

run "extra_cluster_cidrs_of_the_whole_internet" {
  command = plan
  variables {
    extra_cluster_cidrs = ["0.0.0.0/0"]
  }
  expect_failures = [var.extra_cluster_cidrs]
}
