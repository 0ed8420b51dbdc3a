variable "pop_id" {
  description = "The PoP's id (names and labels the resources)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]{1,32}$", var.pop_id))
    error_message = "pop_id must match [a-z0-9-]{1,32}."
  }
}

variable "location" {
  description = "Hetzner location of the PoP and its primary IPs: fsn1, nbg1, hel1 (Germany, Finland), ash (Ashburn, VA), hil (Hillsboro, OR), sin (Singapore)."
  type        = string
}

variable "user_data" {
  description = "cloud-init user data of this PoP: module.<warren-pop-config>.user_data[pop_id]."
  type        = string
  sensitive   = true
}

variable "firewall" {
  description = "The firewall model: module.<warren-pop-config>.firewall."
  type = object({
    public               = list(object({ name = string, protocol = string, from_port = number, to_port = number }))
    cluster              = list(object({ name = string, protocol = string, from_port = number, to_port = number }))
    cluster_sources_ipv4 = list(string)
    cluster_sources_ipv6 = list(string)
    admin_port           = number
  })
}

variable "server_type" {
  description = "Hetzner server type (cx22, cax11 for arm64 ...); the warren binary must match its architecture."
  type        = string
  default     = "cx22"
}

variable "image" {
  description = "Image with cloud-init."
  type        = string
  default     = "ubuntu-24.04"
}

variable "ipv6" {
  description = "Give the PoP a primary IPv6 (its ::1 is the PoP's public_ipv6)."
  type        = bool
  default     = true
}

variable "ssh_key_ids" {
  description = "Hetzner SSH key ids or names for the root user."
  type        = list(string)
  default     = []
}

variable "ssh_cidrs" {
  description = "CIDRs allowed to SSH (port 22). Empty: SSH is closed."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.ssh_cidrs : can(cidrhost(c, 0)) && !contains(["0.0.0.0/0", "::/0"], c)])
    error_message = "ssh_cidrs must be CIDRs, and not the whole Internet."
  }
}

variable "admin_cidrs" {
  description = "CIDRs allowed to the admin API port. Empty (default): closed."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0)) && !contains(["0.0.0.0/0", "::/0"], c)])
    error_message = "admin_cidrs must be CIDRs, and never the whole Internet."
  }
}

variable "labels" {
  description = "Labels for every resource."
  type        = map(string)
  default     = {}
}
