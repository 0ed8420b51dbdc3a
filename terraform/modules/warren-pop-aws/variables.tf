variable "pop_id" {
  description = "The PoP's id (names and tags the resources)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]{1,32}$", var.pop_id))
    error_message = "pop_id must match [a-z0-9-]{1,32}."
  }
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

variable "instance_type" {
  description = "EC2 instance type."
  type        = string
  default     = "t3.small"
}

variable "ami_id" {
  description = "AMI with cloud-init (null: the latest Ubuntu 24.04 LTS of Canonical in this region)."
  type        = string
  default     = null
}

variable "architecture" {
  description = "x86_64 or arm64: picks the Ubuntu AMI when ami_id is null; the warren binary must match."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "subnet_id" {
  description = "Public subnet for the PoP (null: the default subnet of the region's default VPC, first zone)."
  type        = string
  default     = null
}

variable "root_volume_gb" {
  description = "Size of the encrypted root volume (holds data_dir)."
  type        = number
  default     = 20
}

variable "key_name" {
  description = "EC2 key pair for SSH, or null (no key: use SSM Session Manager or the serial console)."
  type        = string
  default     = null
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
  description = "CIDRs allowed to the admin API port. Empty (default): closed; the admin API binds to loopback unless the PoP's admin_address says otherwise."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0)) && !contains(["0.0.0.0/0", "::/0"], c)])
    error_message = "admin_cidrs must be CIDRs, and never the whole Internet."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
