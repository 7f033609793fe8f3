output "servers" {
  description = "Lab servers keyed by name: { address }."
  value       = { for name, server in terraform_data.server : name => { address = server.output.address } }
}
