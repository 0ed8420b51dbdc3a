# One Warren PoP on AWS, in the region of the aws provider given to the module: an Elastic IP
# (the PoP's public_ipv4, allocated before the instance so the core module can render every
# PoP's config with it), a security group implementing the firewall model, and an instance that
# cloud-init turns into a PoP.

locals {
  name = "warren-${var.pop_id}"
  tags = merge(var.tags, { "warren:pop" = var.pop_id })
  ingress = concat(
    flatten([for r in var.firewall.public : [
      { key = "${r.name}-v4", description = "warren ${r.name} from anywhere", protocol = r.protocol, from = r.from_port, to = r.to_port, cidr_ipv4 = "0.0.0.0/0", cidr_ipv6 = null },
      { key = "${r.name}-v6", description = "warren ${r.name} from anywhere", protocol = r.protocol, from = r.from_port, to = r.to_port, cidr_ipv4 = null, cidr_ipv6 = "::/0" },
    ]]),
    # Keyed by position: the PoPs' addresses may be unknown until apply (Elastic IPs of this run).
    flatten([for r in var.firewall.cluster : concat(
      [for i, c in var.firewall.cluster_sources_ipv4 : { key = "${r.name}-v4-${i}", description = "warren ${r.name} from a PoP", protocol = r.protocol, from = r.from_port, to = r.to_port, cidr_ipv4 = c, cidr_ipv6 = null }],
      [for i, c in var.firewall.cluster_sources_ipv6 : { key = "${r.name}-v6-${i}", description = "warren ${r.name} from a PoP", protocol = r.protocol, from = r.from_port, to = r.to_port, cidr_ipv4 = null, cidr_ipv6 = c }],
    )]),
    [for c in var.ssh_cidrs : { key = "ssh-${c}", description = "ssh", protocol = "tcp", from = 22, to = 22, cidr_ipv4 = strcontains(c, ":") ? null : c, cidr_ipv6 = strcontains(c, ":") ? c : null }],
    [for c in var.admin_cidrs : { key = "admin-${c}", description = "warren admin API", protocol = "tcp", from = var.firewall.admin_port, to = var.firewall.admin_port, cidr_ipv4 = strcontains(c, ":") ? null : c, cidr_ipv6 = strcontains(c, ":") ? c : null }],
  )
}

data "aws_ami" "ubuntu" {
  count       = var.ami_id == null ? 1 : 0
  most_recent = true
  owners      = ["099720109477"] # Canonical

  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${var.architecture == "arm64" ? "arm64" : "amd64"}-server-*"]
  }
  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

data "aws_vpc" "default" {
  count   = var.subnet_id == null ? 1 : 0
  default = true
}

data "aws_subnets" "default" {
  count = var.subnet_id == null ? 1 : 0
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default[0].id]
  }
  filter {
    name   = "default-for-az"
    values = ["true"]
  }
}

data "aws_subnet" "selected" {
  id = coalesce(var.subnet_id, try(sort(data.aws_subnets.default[0].ids)[0], null))
}

resource "aws_eip" "pop" {
  domain = "vpc"
  # The address is in every PoP's config, in GSLB answers and in the parent zone's glue: keep it.
  tags = merge(local.tags, { Name = local.name })
}

resource "aws_security_group" "pop" {
  name        = local.name
  description = "Warren PoP ${var.pop_id}: public edge ports, cluster port from PoPs only, admin closed"
  vpc_id      = data.aws_subnet.selected.vpc_id
  tags        = merge(local.tags, { Name = local.name })
}

resource "aws_vpc_security_group_ingress_rule" "pop" {
  # checkov:skip=CKV_AWS_260:A PoP is a public edge: port 80 (and 443, 53, the tunnel) must be open to every client.
  for_each = { for r in local.ingress : r.key => r }

  security_group_id = aws_security_group.pop.id
  description       = each.value.description
  ip_protocol       = each.value.protocol
  from_port         = each.value.from
  to_port           = each.value.to
  cidr_ipv4         = each.value.cidr_ipv4
  cidr_ipv6         = each.value.cidr_ipv6
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "all_v4" {
  # checkov:skip=CKV_AWS_382:A PoP dials peers, agents' JWKS issuers and package mirrors anywhere on the Internet.
  security_group_id = aws_security_group.pop.id
  description       = "outbound: peers, JWKS, packages"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "all_v6" {
  # checkov:skip=CKV_AWS_382:A PoP dials peers, agents' JWKS issuers and package mirrors anywhere on the Internet.
  security_group_id = aws_security_group.pop.id
  description       = "outbound: peers, JWKS, packages"
  ip_protocol       = "-1"
  cidr_ipv6         = "::/0"
  tags              = local.tags
}

resource "aws_instance" "pop" {
  # checkov:skip=CKV2_AWS_41:The PoP calls no AWS API, so it gets no IAM role (no credentials on the machine).
  ami                         = coalesce(var.ami_id, try(data.aws_ami.ubuntu[0].id, null))
  instance_type               = var.instance_type
  subnet_id                   = data.aws_subnet.selected.id
  vpc_security_group_ids      = [aws_security_group.pop.id]
  key_name                    = var.key_name
  user_data                   = var.user_data
  user_data_replace_on_change = true
  monitoring                  = true
  ebs_optimized               = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_gb
    encrypted             = true
    delete_on_termination = true
  }

  tags        = merge(local.tags, { Name = local.name })
  volume_tags = local.tags
}

resource "aws_eip_association" "pop" {
  instance_id   = aws_instance.pop.id
  allocation_id = aws_eip.pop.id
}
