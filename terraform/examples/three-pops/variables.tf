variable "zone" {
  description = "The edge's zone, delegated to the PoPs (endpoints are https://NAME.ZONE)."
  type        = string
}

variable "warren_binary_url" {
  description = "https URL of a linux x86_64 warren binary (cargo build --release)."
  type        = string
}

variable "warren_binary_sha256" {
  description = "SHA-256 of that binary (sha256sum target/release/warren)."
  type        = string
}

variable "tls" {
  description = "null: a dev CA per PoP. Production: paths of a wildcard certificate for *.ZONE and its key on the machines."
  type = object({
    cert_file = string
    key_file  = string
  })
  default = null
}

variable "instance_type" {
  type    = string
  default = "t3.small"
}

variable "key_names" {
  description = "EC2 key pair per PoP (key pairs are regional), or null for none."
  type        = map(string)
  default     = { pop-fra = null, pop-iad = null, pop-sin = null }
}

variable "ssh_cidrs" {
  description = "Networks allowed to SSH to the PoPs (empty: closed)."
  type        = list(string)
  default     = []
}

variable "tags" {
  type    = map(string)
  default = { project = "warren" }
}
