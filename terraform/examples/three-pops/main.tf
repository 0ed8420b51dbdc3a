# Three PoPs on AWS: Frankfurt (eu-central-1), Virginia/Ashburn (us-east-1), Singapore
# (ap-southeast-1). From zero (docs/deploy.md):
#   terraform init
#   terraform apply -var zone=edge.example.com \
#     -var warren_binary_url=https://... -var warren_binary_sha256=...
#   terraform output -raw parent_zone_records    # publish at the parent zone (NS + glue)
# The Elastic IPs are allocated first, the core module renders every PoP's pop.yaml with them,
# and each instance boots into a PoP with cloud-init.

terraform {
  required_version = ">= 1.9"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.5, < 4.0"
    }
  }
}

provider "aws" {
  alias  = "fra"
  region = "eu-central-1"
}

provider "aws" {
  alias  = "iad"
  region = "us-east-1"
}

provider "aws" {
  alias  = "sin"
  region = "ap-southeast-1"
}

# The cluster secret and the admin token. They end up in the state and in the instances' user
# data: keep the state in an encrypted backend with restricted access.
resource "random_password" "cluster_secret" {
  length  = 48
  special = false
}

resource "random_password" "admin_token" {
  length  = 48
  special = false
}

module "config" {
  source = "../../modules/warren-pop-config"

  zone          = var.zone
  bootstrap_pop = "pop-fra"
  pops = [
    { id = "pop-fra", region = "eu-central-1", lat = 50.11, lon = 8.68, public_ipv4 = module.pop_fra.public_ipv4, cluster_address = module.pop_fra.public_ipv4 },
    { id = "pop-iad", region = "us-east-1", lat = 39.04, lon = -77.49, public_ipv4 = module.pop_iad.public_ipv4, cluster_address = module.pop_iad.public_ipv4 },
    { id = "pop-sin", region = "ap-southeast-1", lat = 1.29, lon = 103.85, public_ipv4 = module.pop_sin.public_ipv4, cluster_address = module.pop_sin.public_ipv4 },
  ]
  tls                  = var.tls
  warren_binary_url    = var.warren_binary_url
  warren_binary_sha256 = var.warren_binary_sha256
  cluster_secret       = random_password.cluster_secret.result
  admin_token          = random_password.admin_token.result
}

module "pop_fra" {
  source    = "../../modules/warren-pop-aws"
  providers = { aws = aws.fra }

  pop_id        = "pop-fra"
  user_data     = module.config.user_data["pop-fra"]
  firewall      = module.config.firewall
  instance_type = var.instance_type
  key_name      = var.key_names["pop-fra"]
  ssh_cidrs     = var.ssh_cidrs
  tags          = var.tags
}

module "pop_iad" {
  source    = "../../modules/warren-pop-aws"
  providers = { aws = aws.iad }

  pop_id        = "pop-iad"
  user_data     = module.config.user_data["pop-iad"]
  firewall      = module.config.firewall
  instance_type = var.instance_type
  key_name      = var.key_names["pop-iad"]
  ssh_cidrs     = var.ssh_cidrs
  tags          = var.tags
}

module "pop_sin" {
  source    = "../../modules/warren-pop-aws"
  providers = { aws = aws.sin }

  pop_id        = "pop-sin"
  user_data     = module.config.user_data["pop-sin"]
  firewall      = module.config.firewall
  instance_type = var.instance_type
  key_name      = var.key_names["pop-sin"]
  ssh_cidrs     = var.ssh_cidrs
  tags          = var.tags
}
