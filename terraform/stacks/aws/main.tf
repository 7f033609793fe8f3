# AWS EC2 servers from the same generated variables as every stack:
# type -> instance_type (e.g. t3.medium, m7g.large), region -> AWS region (e.g. eu-central-1),
# disk_gib -> root volume size. Instances land in the region's default VPC.

module "contract" {
  source = "../../modules/server_contract"

  servers           = var.servers
  ssh_public_key    = var.ssh_public_key
  ftp_passive_ports = var.ftp_passive_ports
}

locals {
  regions = distinct([for server in values(var.servers) : server.region])
  # null with no servers: the provider then takes the region from the environment.
  region = length(local.regions) == 1 ? local.regions[0] : null
}

# Graviton (arm64) or x86_64, per instance type, so the AMI always fits the type.
data "aws_ec2_instance_type" "server" {
  for_each      = toset([for server in values(var.servers) : server.type])
  instance_type = each.key
}

# Debian 12 images published by Debian (account 136693071363).
data "aws_ami" "debian12" {
  for_each    = toset(["amd64", "arm64"])
  most_recent = true
  owners      = ["136693071363"]

  filter {
    name   = "name"
    values = ["debian-12-${each.key}-*"]
  }

  filter {
    name   = "architecture"
    values = [each.key == "arm64" ? "arm64" : "x86_64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

resource "aws_key_pair" "control" {
  key_name_prefix = "bubblehost-control-"
  public_key      = trimspace(var.ssh_public_key)
}

resource "aws_security_group" "server" {
  name_prefix = "bubblehost-servers-"
  description = "Bubblehost hosting servers: ssh, web, ftp, imap"

  dynamic "ingress" {
    for_each = module.contract.firewall_rules
    content {
      description      = ingress.value.name
      protocol         = ingress.value.protocol
      from_port        = ingress.value.from_port
      to_port          = ingress.value.to_port
      cidr_blocks      = ["0.0.0.0/0"]
      ipv6_cidr_blocks = ["::/0"]
    }
  }

  egress {
    description      = "all outbound"
    protocol         = "-1"
    from_port        = 0
    to_port          = 0
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_instance" "server" {
  for_each = module.contract.servers

  ami = data.aws_ami.debian12[
    contains(data.aws_ec2_instance_type.server[each.value.type].supported_architectures, "arm64") ? "arm64" : "amd64"
  ].id
  instance_type          = each.value.type
  key_name               = aws_key_pair.control.key_name
  vpc_security_group_ids = [aws_security_group.server.id]
  user_data              = module.contract.user_data

  root_block_device {
    volume_type           = "gp3"
    volume_size           = each.value.disk_gib
    encrypted             = true
    delete_on_termination = true
  }

  metadata_options {
    http_tokens = "required"
  }

  tags = { Name = each.key, bubble-server = each.key }

  lifecycle {
    precondition {
      condition     = length(local.regions) == 1
      error_message = "All servers of the aws stack must share one region (one provider per region); found: ${join(", ", local.regions)}."
    }

    # A newer Debian AMI, a rotated control key or new user data must never replace a server
    # that holds customer accounts (Ansible rotates the key on running servers).
    ignore_changes = [ami, key_name, user_data]
  }
}
