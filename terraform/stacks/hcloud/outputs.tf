output "servers" {
  description = "Hetzner servers keyed by name: { address } (public IPv4)."
  value       = { for name, server in hcloud_server.server : name => { address = server.ipv4_address } }
}
