# Lab servers: systemd-nspawn hosts on this machine, created and destroyed by the bubble CLI
# (`bubble lab server-create` / `server-destroy`, docs/interfaces.md). Both commands are
# idempotent, so a re-run after a failed apply is safe.
#
# The CLI is run without a shell: local-exec appends `command` as the last argument to
# `interpreter`, so the whole argv is interpreter + command and no value is ever re-parsed
# (the ssh key contains spaces). The server name goes last (options before the argument, which
# the CLI accepts) so that a failure reads "Error running command 'web1'".

resource "terraform_data" "server" {
  for_each = var.servers

  # What a lab server is built with at boot: changing any of it means a new server.
  triggers_replace = {
    address        = each.value.address
    disk_gib       = each.value.disk_gib
    ssh_public_key = trimspace(var.ssh_public_key)
  }

  # Destroy-time provisioners may only use self: keep what server-destroy needs here.
  input = {
    name           = each.key
    address        = each.value.address
    bubble_command = var.bubble_command
  }

  provisioner "local-exec" {
    interpreter = concat(var.bubble_command, [
      "lab", "server-create",
      "--address", each.value.address,
      "--ssh-key", trimspace(var.ssh_public_key),
      "--disk-gib", tostring(each.value.disk_gib),
    ])
    command = each.key
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = concat(self.input.bubble_command, ["lab", "server-destroy"])
    command     = self.input.name
  }
}
