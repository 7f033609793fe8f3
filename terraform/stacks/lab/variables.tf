# Same variables and validation as modules/server_contract (a unit test keeps them equal).

variable "servers" {
  description = "Servers keyed by name: provider server type, region, cores, per-core MHz, memory (MiB), disk (GiB) and IPv4 address (\"\" when the provider assigns it)."
  type = map(object({
    type       = string
    region     = string
    cores      = number
    core_mhz   = number
    memory_mib = number
    disk_gib   = number
    address    = string
  }))

  validation {
    condition     = alltrue([for name in keys(var.servers) : can(regex("^[a-z][a-z0-9-]{0,62}$", name))])
    error_message = "Server names must match ^[a-z][a-z0-9-]{0,62}$ (lower case, digits, dashes, starting with a letter); invalid: ${join(", ", [for name in keys(var.servers) : name if !can(regex("^[a-z][a-z0-9-]{0,62}$", name))])}."
  }

  validation {
    condition     = alltrue([for s in values(var.servers) : s.type != "" && s.region != ""])
    error_message = "Every server needs a non-empty type and region; invalid: ${join(", ", [for name, s in var.servers : name if s.type == "" || s.region == ""])}."
  }

  validation {
    condition     = alltrue([for s in values(var.servers) : s.cores >= 1 && floor(s.cores) == s.cores])
    error_message = "cores must be a whole number >= 1; invalid: ${join(", ", [for name, s in var.servers : name if !(s.cores >= 1 && floor(s.cores) == s.cores)])}."
  }

  validation {
    condition = alltrue([for s in values(var.servers) : alltrue([
      for size in [s.core_mhz, s.memory_mib, s.disk_gib] : size > 0 && floor(size) == size
    ])])
    error_message = "core_mhz, memory_mib and disk_gib must be whole numbers > 0; invalid: ${join(", ", [for name, s in var.servers : name if !alltrue([for size in [s.core_mhz, s.memory_mib, s.disk_gib] : size > 0 && floor(size) == size])])}."
  }

  validation {
    condition     = alltrue([for s in values(var.servers) : s.address == "" || can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", s.address))])
    error_message = "address must be a dotted IPv4 address or \"\"; invalid: ${join(", ", [for name, s in var.servers : name if !(s.address == "" || can(regex("^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$", s.address)))])}."
  }

  validation {
    condition     = alltrue([for s in values(var.servers) : s.address != ""])
    error_message = "Lab servers need an address (glue assigns 198.18.0.11 upwards); missing for: ${join(", ", [for name, s in var.servers : name if s.address == ""])}."
  }
}

variable "ssh_public_key" {
  description = "The control plane's OpenSSH public key (one line), installed for root on every server."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+=*( [^\\n]*)?$", trimspace(var.ssh_public_key)))
    error_message = "ssh_public_key must be one OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa-sha2-*)."
  }
}

variable "bubble_command" {
  description = "argv prefix of the bubble CLI, e.g. [\"/work/main/.venv/bin/python\", \"-m\", \"glue.cli.main\"]."
  type        = list(string)

  validation {
    condition     = length(var.bubble_command) >= 1 && alltrue([for arg in var.bubble_command : arg != ""])
    error_message = "bubble_command must be a non-empty list of non-empty strings."
  }
}

variable "ftp_passive_ports" {
  description = "The fleet setting bubble_ftp_passive_ports, {min, max}. Unused here: lab servers have no cloud firewall (their nftables opens the range), declared so that every stack takes the same variables."
  type = object({
    min = number
    max = number
  })
  default = null

  validation {
    # Null only where nothing reads it (the lab stack); the same rule everywhere.
    condition     = var.ftp_passive_ports == null ? true : alltrue([for port in [var.ftp_passive_ports.min, var.ftp_passive_ports.max] : floor(port) == port]) && 1024 <= var.ftp_passive_ports.min && var.ftp_passive_ports.min <= var.ftp_passive_ports.max && var.ftp_passive_ports.max <= 65535
    error_message = "ftp_passive_ports must be whole numbers with 1024 <= min <= max <= 65535."
  }
}
