# Inputs of the core module. Every rule here mirrors a check `warren pop --check` makes (or a DNS
# rule for the name servers), so a mistake fails at `terraform plan`, not on a machine at boot.

variable "zone" {
  description = "The edge's DNS zone: endpoints are https://NAME.ZONE and every PoP is a name server for it."
  type        = string

  validation {
    condition = (
      length(var.zone) <= 253 &&
      can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.zone))
    )
    error_message = "zone must be a lower-case DNS name with at least two labels (e.g. edge.example.com), no trailing dot."
  }
}

variable "pops" {
  description = <<-EOT
    The PoPs. id: [a-z0-9-]{1,32} (not ending in '-': it is also the name server label ns-ID);
    public_ipv4/public_ipv6: what GSLB hands out and the glue of ns-ID.ZONE; cluster_address: the
    IP or DNS name the other PoPs dial for this PoP's cluster port (a private address where the
    PoPs share a network); bind_address: where the public listeners bind; admin_address: where the
    admin API binds (loopback by default: never exposed); data_dir: overrides var.data_dir.
  EOT
  type = list(object({
    id              = string
    region          = optional(string, "")
    lat             = number
    lon             = number
    public_ipv4     = string
    public_ipv6     = optional(string)
    cluster_address = string
    bind_address    = optional(string, "0.0.0.0")
    admin_address   = optional(string, "127.0.0.1")
    data_dir        = optional(string)
  }))

  validation {
    condition     = length(var.pops) >= 1
    error_message = "pops must list at least one PoP."
  }
  validation {
    condition     = alltrue([for p in var.pops : can(regex("^[a-z0-9-]{0,31}[a-z0-9]$", p.id))])
    error_message = "Every PoP id must match [a-z0-9-]{1,32} and not end in '-' (ns-ID must be a valid DNS label)."
  }
  validation {
    condition     = length(distinct([for p in var.pops : p.id])) == length(var.pops)
    error_message = "PoP ids must be unique."
  }
  validation {
    condition     = alltrue([for p in var.pops : p.data_dir == null ? true : can(regex("^/[A-Za-z0-9._/-]*$", p.data_dir))])
    error_message = "A PoP's data_dir must be an absolute path of letters, digits and . _ / -."
  }
  validation {
    condition     = alltrue([for p in var.pops : p.lat >= -90 && p.lat <= 90 && p.lon >= -180 && p.lon <= 180])
    error_message = "Every PoP needs lat in -90..90 and lon in -180..180."
  }
  validation {
    # cidrnetmask accepts exactly an IPv4 prefix, so this is "a plain IPv4 address".
    condition     = alltrue([for p in var.pops : can(cidrnetmask("${p.public_ipv4}/32"))])
    error_message = "Every PoP's public_ipv4 must be an IPv4 address (e.g. 203.0.113.10), without a prefix length."
  }
  validation {
    condition = alltrue([
      for p in var.pops : p.public_ipv6 == null ? true : (can(cidrhost("${p.public_ipv6}/128", 0)) && strcontains(try(p.public_ipv6, ""), ":"))
    ])
    error_message = "A PoP's public_ipv6, when set, must be an IPv6 address (e.g. 2001:db8::10), without a prefix length."
  }
  validation {
    condition     = length(distinct([for p in var.pops : p.public_ipv4])) == length(var.pops)
    error_message = "Every PoP needs its own public_ipv4 (GSLB tells PoPs apart by it)."
  }
  validation {
    condition = alltrue([
      for p in var.pops : (
        can(cidrhost("${p.cluster_address}/32", 0)) ||
        (strcontains(p.cluster_address, ":") && can(cidrhost("${p.cluster_address}/128", 0))) ||
        can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", p.cluster_address))
      )
    ])
    error_message = "Every PoP's cluster_address must be an IP address or a DNS name, without a port (the port is ports.cluster)."
  }
  validation {
    condition = alltrue(flatten([
      for p in var.pops : [
        for a in [p.bind_address, p.admin_address] :
        can(cidrnetmask("${a}/32")) || (strcontains(a, ":") && can(cidrhost("${a}/128", 0)))
      ]
    ]))
    error_message = "bind_address and admin_address must be IP addresses (0.0.0.0, ::, 127.0.0.1, 10.0.0.5 ...): listeners bind to addresses, not names."
  }
}

variable "bootstrap_pop" {
  description = "The id of the one PoP that initialises a new cluster (cluster.bootstrap: true); the others join it."
  type        = string

  validation {
    condition     = length([for p in var.pops : p.id if p.id == var.bootstrap_pop]) == 1
    error_message = "bootstrap_pop must name exactly one PoP of var.pops: exactly one PoP initialises the cluster."
  }
}

variable "ports" {
  description = "Listener ports, the same on every PoP. tunnel is QUIC (UDP) plus the TCP+TLS fallback on the same port; dns is UDP and TCP; admin binds to admin_address only."
  type = object({
    http    = optional(number, 80)
    https   = optional(number, 443)
    tunnel  = optional(number, 4443)
    cluster = optional(number, 7443)
    dns     = optional(number, 53)
    admin   = optional(number, 9090)
  })
  default = {}

  validation {
    condition = alltrue([
      for p in values(var.ports) : p >= 1 && p <= 65535 && floor(p) == p
    ])
    error_message = "Every port must be an integer in 1..65535."
  }
  validation {
    condition     = length(distinct(values(var.ports))) == length(values(var.ports))
    error_message = "The six ports must be distinct (they share the TCP port space: the tunnel's TCP fallback, DNS over TCP)."
  }
}

variable "extra_cluster_cidrs" {
  description = "Networks besides the PoPs' public addresses allowed to the cluster port (firewall output), e.g. the private network the PoPs' cluster_address(es) are in."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.extra_cluster_cidrs : can(cidrhost(c, 0)) && strcontains(c, "/") && !contains(["0.0.0.0/0", "::/0"], c)])
    error_message = "extra_cluster_cidrs must be CIDRs (e.g. 10.0.0.0/16), never the whole Internet: the cluster port is for PoPs only."
  }
}

variable "tcp_ports" {
  description = "FIRST-LAST: the public ports handed to TCP endpoints (tcp://ZONE:PORT on every PoP); null for none."
  type        = string
  default     = "20000-20999"

  validation {
    condition = var.tcp_ports == null ? true : (
      can(regex("^[0-9]{1,5}-[0-9]{1,5}$", var.tcp_ports)) &&
      try(tonumber(split("-", var.tcp_ports)[0]) >= 1, false) &&
      try(tonumber(split("-", var.tcp_ports)[0]) <= tonumber(split("-", var.tcp_ports)[1]), false) &&
      try(tonumber(split("-", var.tcp_ports)[1]) <= 65535, false)
    )
    error_message = "tcp_ports must be FIRST-LAST with 1 <= FIRST <= LAST <= 65535 (e.g. 20000-20999)."
  }
}

variable "data_dir" {
  description = "Raft log, snapshots and certificates (each PoP may override it). Must be writable by the warren user."
  type        = string
  default     = "/var/lib/warren"

  validation {
    condition     = can(regex("^/[A-Za-z0-9._/-]*$", var.data_dir))
    error_message = "data_dir must be an absolute path of letters, digits and . _ / - (it is used in shell commands and unit files)."
  }
}

variable "config_dir" {
  description = "Where cloud-init writes pop.yaml, the cluster secret and the admin token on each machine."
  type        = string
  default     = "/etc/warren"

  validation {
    condition     = can(regex("^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$", var.config_dir))
    error_message = "config_dir must be an absolute path of letters, digits and . _ / -, without a trailing slash."
  }
}

variable "secret_file" {
  description = "Path of the shared cluster secret on each PoP (cluster.secret_file); null means <config_dir>/cluster.secret."
  type        = string
  default     = null

  validation {
    condition     = var.secret_file == null ? true : startswith(try(var.secret_file, ""), "/")
    error_message = "secret_file must be an absolute path."
  }
}

variable "admin_token_file" {
  description = "Path of the admin API token on each PoP (admin_token_file); null means <config_dir>/admin.token."
  type        = string
  default     = null

  validation {
    condition     = var.admin_token_file == null ? true : startswith(try(var.admin_token_file, ""), "/")
    error_message = "admin_token_file must be an absolute path."
  }
}

variable "tls" {
  description = "null: a dev CA under each PoP's data_dir (browsers will not trust it). For production, the paths of a wildcard certificate for *.ZONE and its key on each PoP."
  type = object({
    cert_file = string
    key_file  = string
  })
  default = null
}

variable "geo_networks" {
  description = "Static client locations checked before the mmdb (geo.networks)."
  type = list(object({
    cidr = string
    lat  = number
    lon  = number
  }))
  default = []

  validation {
    condition     = alltrue([for n in var.geo_networks : can(cidrhost(n.cidr, 0)) && strcontains(n.cidr, "/")])
    error_message = "Every geo_networks entry needs a CIDR such as 192.0.2.0/24 or 2001:db8::/32."
  }
  validation {
    condition     = alltrue([for n in var.geo_networks : n.lat >= -90 && n.lat <= 90 && n.lon >= -180 && n.lon <= 180])
    error_message = "Every geo_networks entry needs lat in -90..90 and lon in -180..180."
  }
}

variable "geo_mmdb" {
  description = "Path of a MaxMind City-format database on each PoP (geo.mmdb), or null."
  type        = string
  default     = null
}

variable "global_policy" {
  description = "Text of the operator's global traffic policy, applied to the cluster on bootstrap; written to <config_dir>/operator-policy.yaml. null for none."
  type        = string
  default     = null
}

variable "health" {
  description = "Peer health probing (health.*)."
  type = object({
    interval_ms = optional(number, 1000)
    fall        = optional(number, 3)
    rise        = optional(number, 2)
  })
  default = {}

  validation {
    condition     = var.health.interval_ms >= 50 && var.health.fall >= 1 && var.health.rise >= 1
    error_message = "health needs interval_ms >= 50, fall >= 1 and rise >= 1."
  }
}

variable "dns_ttl" {
  description = "TTL of GSLB answers in seconds (dns.ttl): short, so a failed PoP leaves resolvers' caches quickly."
  type        = number
  default     = 30

  validation {
    condition     = var.dns_ttl >= 1 && var.dns_ttl <= 86400
    error_message = "dns_ttl must be 1..86400 seconds."
  }
}

variable "ns_ttl" {
  description = "TTL of the NS and glue records published at the parent zone."
  type        = number
  default     = 86400
}

# --- cloud-init (user_data output) -------------------------------------------------------------

variable "warren_binary_url" {
  description = "Cloud-init downloads the warren binary from here (https), checked against warren_binary_sha256. Set this or warren_binary_path to get user_data."
  type        = string
  default     = null

  validation {
    condition     = var.warren_binary_url == null ? true : can(regex("^https://[^\\s'\"\\\\]+$", var.warren_binary_url))
    error_message = "warren_binary_url must be an https:// URL (no spaces or quotes)."
  }
  validation {
    condition     = var.warren_binary_url == null || var.warren_binary_path == null
    error_message = "Set warren_binary_url or warren_binary_path, not both."
  }
  validation {
    condition     = var.warren_binary_url == null ? true : can(regex("^[0-9a-f]{64}$", var.warren_binary_sha256))
    error_message = "warren_binary_url needs warren_binary_sha256: the lower-case hex SHA-256 of the binary."
  }
}

variable "warren_binary_sha256" {
  description = "Lower-case hex SHA-256 of the binary at warren_binary_url."
  type        = string
  default     = null
}

variable "warren_binary_path" {
  description = "A warren binary already on the machine's image (baked with Packer, or mounted); cloud-init installs it from there."
  type        = string
  default     = null

  validation {
    condition     = var.warren_binary_path == null ? true : can(regex("^/[A-Za-z0-9._/-]+$", var.warren_binary_path))
    error_message = "warren_binary_path must be an absolute path on the machine (letters, digits and . _ / -)."
  }
}

variable "cluster_secret" {
  description = "The shared cluster secret written to secret_file by cloud-init (at least 32 characters)."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.cluster_secret == null ? true : length(try(var.cluster_secret, "")) >= 32
    error_message = "cluster_secret must be at least 32 characters."
  }
  validation {
    condition     = var.cluster_secret != null || (var.warren_binary_url == null && var.warren_binary_path == null)
    error_message = "user_data needs cluster_secret (set with warren_binary_url or warren_binary_path)."
  }
}

variable "admin_token" {
  description = "The admin API token written to admin_token_file by cloud-init (at least 32 characters)."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.admin_token == null ? true : length(try(var.admin_token, "")) >= 32
    error_message = "admin_token must be at least 32 characters."
  }
  validation {
    condition     = var.admin_token != null || (var.warren_binary_url == null && var.warren_binary_path == null)
    error_message = "user_data needs admin_token (set with warren_binary_url or warren_binary_path)."
  }
}

variable "systemd_unit" {
  description = "The warren-pop.service unit cloud-init installs; null means deploy/systemd/warren-pop.service of this repository."
  type        = string
  default     = null
}
