# Hetzner Cloud servers from the same generated variables as every stack:
# type -> server_type (e.g. cx32), region -> location (e.g. fsn1, nbg1, hel1).
# The disk size is fixed by the server type on Hetzner: disk_gib is not applied here.

module "contract" {
  source = "../../modules/server_contract"

  servers           = var.servers
  ssh_public_key    = var.ssh_public_key
  ftp_passive_ports = var.ftp_passive_ports
}

resource "hcloud_ssh_key" "control" {
  name       = "bubblehost-control-${substr(sha256(trimspace(var.ssh_public_key)), 0, 12)}"
  public_key = trimspace(var.ssh_public_key)
  labels     = { managed-by = "bubblehost" }
}

resource "hcloud_firewall" "server" {
  name   = "bubblehost-servers"
  labels = { managed-by = "bubblehost" }

  dynamic "rule" {
    for_each = module.contract.firewall_rules
    content {
      description = rule.value.name
      direction   = "in"
      protocol    = rule.value.protocol
      port        = rule.value.from_port == rule.value.to_port ? tostring(rule.value.from_port) : "${rule.value.from_port}-${rule.value.to_port}"
      source_ips  = ["0.0.0.0/0", "::/0"]
    }
  }
}

resource "hcloud_server" "server" {
  for_each = module.contract.servers

  name         = each.key
  server_type  = each.value.type
  location     = each.value.region
  image        = "debian-12"
  ssh_keys     = [hcloud_ssh_key.control.id]
  firewall_ids = [hcloud_firewall.server.id]
  user_data    = module.contract.user_data
  labels       = { managed-by = "bubblehost", bubble-server = each.key }

  public_net {
    ipv4_enabled = true
    ipv6_enabled = true
  }

  lifecycle {
    # Each of these forces a new server on Hetzner: a new image release or a rotated control
    # key must never wipe a server that holds customer accounts (Ansible rotates the key).
    ignore_changes = [image, ssh_keys, user_data]
  }
}
