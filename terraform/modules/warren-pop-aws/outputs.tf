output "public_ipv4" {
  description = "The PoP's Elastic IP: its public_ipv4, cluster address and name server glue."
  value       = aws_eip.pop.public_ip
}

output "private_ipv4" {
  description = "The instance's address in its VPC."
  value       = aws_instance.pop.private_ip
}

output "instance_id" {
  value = aws_instance.pop.id
}

output "security_group_id" {
  value = aws_security_group.pop.id
}
