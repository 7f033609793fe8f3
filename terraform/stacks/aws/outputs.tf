output "servers" {
  description = "EC2 servers keyed by name: { address } (public IPv4)."
  value       = { for name, server in aws_instance.server : name => { address = server.public_ip } }
}
