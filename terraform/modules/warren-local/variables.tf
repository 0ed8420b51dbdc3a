variable "warren_binary" {
  description = "Absolute path of the warren binary to run (e.g. target/debug/warren)."
  type        = string

  validation {
    condition     = startswith(var.warren_binary, "/")
    error_message = "warren_binary must be an absolute path (abspath(\"../target/debug/warren\") works)."
  }
}

variable "state_dir" {
  description = "Absolute path of the folder for configs, data, logs and pid files; removed on destroy."
  type        = string

  validation {
    condition     = can(regex("^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$", var.state_dir))
    error_message = "state_dir must be an absolute path of letters, digits and . _ / - without a trailing slash."
  }
}

variable "zone" {
  description = "The zone the local PoPs serve."
  type        = string
  default     = "edge.test"
}

variable "pops" {
  description = "The PoPs: PoP i listens on 127.0.0.(first_host + i)."
  type = list(object({
    id     = string
    region = optional(string, "local")
    lat    = number
    lon    = number
  }))
  default = [
    { id = "pop-fra", region = "eu-central", lat = 50.11, lon = 8.68 },
    { id = "pop-iad", region = "us-east", lat = 39.04, lon = -77.49 },
    { id = "pop-sin", region = "ap-southeast", lat = 1.35, lon = 103.82 },
  ]

  validation {
    condition     = length(var.pops) >= 1 && length(var.pops) <= 50
    error_message = "Between 1 and 50 local PoPs."
  }
}

variable "first_host" {
  description = "Last octet of the first PoP's loopback address (127.0.0.X); each further PoP takes the next one."
  type        = number
  default     = 11

  validation {
    condition     = var.first_host >= 2 && var.first_host <= 200 && floor(var.first_host) == var.first_host
    error_message = "first_host must be an integer in 2..200 (127.0.0.1 is left to everything else)."
  }
}

variable "ports" {
  description = "Listener ports, the same on every local PoP's address (unprivileged: no root needed)."
  type = object({
    http    = optional(number, 18080)
    https   = optional(number, 18443)
    tunnel  = optional(number, 14443)
    cluster = optional(number, 17443)
    dns     = optional(number, 15353)
    admin   = optional(number, 19090)
  })
  default = {}
}

variable "startup_timeout_seconds" {
  description = "How long apply waits for each PoP's /healthz before it fails."
  type        = number
  default     = 30
}
