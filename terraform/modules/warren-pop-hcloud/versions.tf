terraform {
  required_version = ">= 1.9"
  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = ">= 1.58, < 2.0" # 1.58: primary IPs by location
    }
  }
}
