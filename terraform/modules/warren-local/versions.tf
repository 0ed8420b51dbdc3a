# Only built-in resources (terraform_data) and local-exec: `terraform init` needs no registry,
# so this module is applied and destroyed for real in CI (.ci/terraform).
terraform {
  required_version = ">= 1.9"
}
