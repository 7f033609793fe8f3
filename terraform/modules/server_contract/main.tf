# The server contract every stack shares (it creates no server: each stack does): the
# validated server set glue renders (variables.tf), and the provider-agnostic facts every cloud
# stack needs: the ports a hosting server opens and the cloud-init document that lets the
# control plane in.

locals {
  # Ingress a Bubblehost server serves. The FTP passive range is the fleet setting that
  # vsftpd and nftables use too (bubble_ftp_passive_ports).
  firewall_rules = [
    { name = "ssh", protocol = "tcp", from_port = 22, to_port = 22 },
    { name = "ftp", protocol = "tcp", from_port = 21, to_port = 21 },
    { name = "ftp-passive", protocol = "tcp", from_port = var.ftp_passive_ports.min, to_port = var.ftp_passive_ports.max },
    { name = "http", protocol = "tcp", from_port = 80, to_port = 80 },
    { name = "https", protocol = "tcp", from_port = 443, to_port = 443 },
    { name = "imap", protocol = "tcp", from_port = 143, to_port = 143 },
    { name = "imaps", protocol = "tcp", from_port = 993, to_port = 993 },
  ]

  # root gets the key too (disable_root: false): Ansible connects as root like in the lab.
  user_data = join("\n", ["#cloud-config", yamlencode({
    ssh_pwauth          = false
    disable_root        = false
    ssh_authorized_keys = [trimspace(var.ssh_public_key)]
  })])
}
