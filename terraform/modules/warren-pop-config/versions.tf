# Provider-free on purpose: this module only computes text (pop.yaml, cloud-init user data, the
# records to publish at the parent zone), so `terraform test` runs it offline and every cloud
# module, and warren-local, share one definition of what a PoP's configuration is.
terraform {
  # 1.9: variable validations may refer to other variables (bootstrap_pop, the install source).
  required_version = ">= 1.9"
}
