output "servers" {
  description = "The validated server set, keyed by name (use it as for_each)."
  value       = var.servers
}

output "firewall_rules" {
  description = "Ingress rules: list of { name, protocol, from_port, to_port }."
  value       = local.firewall_rules
}

output "user_data" {
  description = "cloud-init user data installing ssh_public_key for root and the image's default user."
  value       = local.user_data
}
