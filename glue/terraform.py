"""A small, explicit wrapper around the terraform binary.

Every call runs ``terraform -chdir=STACK <step> -input=false -no-color`` (plus ``-json`` where
the step supports it), with Terraform's working data (``TF_DATA_DIR``), the local backend's
state file and a CLI configuration of its own under ``state_dir``, so nothing is written into
the toolkit. Exit codes are always checked; a failure raises :class:`TerraformError` carrying the
stack, the step and Terraform's own error message as one line.

Variables are passed as ``-var-file`` and ``-var name=value`` (lists, maps, numbers and booleans
JSON-encoded, which Terraform reads as HCL). Values are never logged nor put into errors.

Changes are only ever applied from a saved plan (``plan(out=FILE)``, read back with ``show``,
then ``apply(FILE)``): what was shown is exactly what is applied.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from glue.errors import BubbleError

log = logging.getLogger(__name__)


Variables = Mapping[str, object]

_BOX_CHARS = re.compile(r"[╷│╵├─]")
_SPACES = re.compile(r"\s+")


class TerraformError(BubbleError):
    """A terraform step failed; ``str()`` is one line: stack, step and Terraform's message."""

    def __init__(self, stack: str, step: str, message: str) -> None:
        self.stack = stack
        self.step = step
        self.message = message
        super().__init__(f"terraform {step} failed for stack {stack}: {message}")


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", _BOX_CHARS.sub(" ", text)).strip()


def _var_value(value: object) -> str:
    """Render a variable for ``-var``: strings as they are, everything else as JSON (= HCL)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _diagnostic_text(diagnostic: Mapping[str, Any]) -> str:
    summary = str(diagnostic.get("summary", "")).strip()
    detail = str(diagnostic.get("detail", "")).strip()
    text = f"{summary}: {detail}" if summary and detail else summary or detail
    where = diagnostic.get("range")
    if isinstance(where, Mapping) and where.get("filename"):
        start = where.get("start")
        line = start.get("line") if isinstance(start, Mapping) else None
        text += f" ({where['filename']}:{line})" if line else f" ({where['filename']})"
    address = diagnostic.get("address")
    if address:
        text = f"{address}: {text}"
    return _one_line(text)


def json_diagnostics(stdout: str) -> list[tuple[str, str]]:
    """(severity, one-line message) of every diagnostic in Terraform's ``-json`` output.

    Covers both the streaming UI format (one object per line, ``type == "diagnostic"``) and the
    single document of ``validate -json`` (``{"diagnostics": [...]}``).
    """
    found: list[tuple[str, str]] = []
    for raw in stdout.splitlines():
        raw = raw.strip()
        if not raw.startswith("{"):
            continue
        try:
            message = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if not isinstance(message, dict):
            continue
        if message.get("type") == "diagnostic" and isinstance(message.get("diagnostic"), dict):
            diagnostic = message["diagnostic"]
            found.append((str(diagnostic.get("severity", "")), _diagnostic_text(diagnostic)))
    if not found:
        try:
            document = json.loads(stdout)
        except json.JSONDecodeError:
            return found
        if isinstance(document, dict) and isinstance(document.get("diagnostics"), list):
            for diagnostic in document["diagnostics"]:
                if isinstance(diagnostic, dict):
                    found.append(
                        (str(diagnostic.get("severity", "")), _diagnostic_text(diagnostic))
                    )
    return found


class Terraform:
    """Terraform for one stack, with all of its state kept under ``state_dir``.

    ``state_dir`` holds ``terraform.tfstate`` (local backend, passed at init as
    ``-backend-config=path=...``), ``data/`` (``TF_DATA_DIR``) and ``terraformrc``
    (``TF_CLI_CONFIG_FILE``, empty unless it already exists). For another backend (e.g. s3),
    pass ``backend_config`` and it replaces the local path.
    """

    def __init__(
        self,
        stack_dir: Path,
        state_dir: Path,
        *,
        binary: str = "terraform",
        backend_config: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        self.stack_dir = Path(stack_dir).resolve()
        self.state_dir = Path(state_dir).resolve()
        self.stack = self.stack_dir.name
        self.binary = binary
        self.backend_config: dict[str, str] = (
            dict(backend_config) if backend_config is not None else {"path": str(self.state_file)}
        )
        self.extra_env: dict[str, str] = dict(env or {})
        self.timeout = timeout

    @property
    def state_file(self) -> Path:
        return self.state_dir / "terraform.tfstate"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def cli_config_file(self) -> Path:
        return self.state_dir / "terraformrc"

    # -- steps -------------------------------------------------------------------------------

    def init(self) -> None:
        """``terraform init``: providers, modules and the backend (state under state_dir)."""
        args = ["init", "-input=false", "-no-color", "-json"]
        args += [f"-backend-config={key}={value}" for key, value in self.backend_config.items()]
        self._run("init", args)

    def validate(self) -> None:
        """``terraform validate -json`` (after init)."""
        self._run("validate", ["validate", "-no-color", "-json"])

    def plan(
        self,
        var_file: Path | None = None,
        variables: Variables | None = None,
        out: Path | None = None,
    ) -> bool:
        """``terraform plan -detailed-exitcode``, saved to ``out`` when given (for ``show`` and
        ``apply``); True when applying would change something."""
        args = ["plan", "-input=false", "-no-color", "-json", "-detailed-exitcode"]
        if out is not None:
            args.append(f"-out={Path(out).resolve()}")
        args += self._var_args(var_file, variables)
        return self._run("plan", args, ok_codes=(0, 2)).returncode == 2

    def show(self, plan: Path) -> dict[str, Any]:
        """``terraform show -json PLAN``: the saved plan as Terraform's JSON document."""
        result = self._run("show", ["show", "-no-color", "-json", str(Path(plan).resolve())])
        return self._document("show", result.stdout)

    def apply(self, plan: Path) -> None:
        """``terraform apply PLAN``: exactly the changes of that saved plan, nothing else
        (Terraform refuses a plan whose state changed since it was made)."""
        self._run(
            "apply", ["apply", "-input=false", "-no-color", "-json", str(Path(plan).resolve())]
        )

    def destroy(self, var_file: Path | None = None, variables: Variables | None = None) -> None:
        """``terraform destroy -auto-approve`` (variables are still needed to evaluate them)."""
        args = ["destroy", "-input=false", "-no-color", "-json", "-auto-approve"]
        args += self._var_args(var_file, variables)
        self._run("destroy", args)

    def test(self, variables: Variables | None = None) -> None:
        """``terraform test`` (the stack's tests/*.tftest.hcl; after init)."""
        args = ["test", "-no-color", "-json"]
        for name, value in (variables or {}).items():
            args += ["-var", f"{name}={_var_value(value)}"]
        self._run("test", args)

    def output(self) -> dict[str, Any]:
        """``terraform output -json`` as {output name: value} (empty before the first apply)."""
        result = self._run("output", ["output", "-no-color", "-json"])
        document = self._document("output", result.stdout or "{}")
        values: dict[str, Any] = {}
        for name, entry in document.items():
            if not isinstance(entry, dict) or "value" not in entry:
                raise TerraformError(self.stack, "output", f"output {name!r} has no value")
            values[name] = entry["value"]
        return values

    # -- internals ---------------------------------------------------------------------------

    def _document(self, step: str, stdout: str) -> dict[str, Any]:
        try:
            document = json.loads(stdout)
        except json.JSONDecodeError as exc:
            raise TerraformError(self.stack, step, f"unreadable JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise TerraformError(self.stack, step, "expected a JSON object")
        return document

    def _var_args(self, var_file: Path | None, variables: Variables | None) -> list[str]:
        args: list[str] = []
        if var_file is not None:
            path = Path(var_file).resolve()
            if not path.is_file():
                raise TerraformError(self.stack, "variables", f"var file not found: {path}")
            args.append(f"-var-file={path}")
        for name, value in (variables or {}).items():
            args += ["-var", f"{name}={_var_value(value)}"]
        return args

    def _environment(self) -> dict[str, str]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.cli_config_file.exists():
            self.cli_config_file.write_text("")
        env = dict(os.environ)
        env.update(
            {
                "TF_DATA_DIR": str(self.data_dir),
                "TF_CLI_CONFIG_FILE": str(self.cli_config_file),
                "TF_IN_AUTOMATION": "1",
                "TF_INPUT": "0",
                "CHECKPOINT_DISABLE": "1",
            }
        )
        # Our flags and state paths win over anything the caller's environment carries.
        for key in [k for k in env if k.startswith("TF_CLI_ARGS") or k == "TF_WORKSPACE"]:
            del env[key]
        env.update(self.extra_env)
        return env

    def _run(
        self, step: str, args: Sequence[str], ok_codes: Sequence[int] = (0,)
    ) -> subprocess.CompletedProcess[str]:
        if not self.stack_dir.is_dir():
            raise TerraformError(self.stack, step, f"stack directory not found: {self.stack_dir}")
        argv = [self.binary, f"-chdir={self.stack_dir}", *args]
        # Log the step and flags but never variable values.
        log.debug("terraform %s (stack %s)", step, self.stack)
        try:
            result = subprocess.run(
                argv,
                env=self._environment(),
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise TerraformError(
                self.stack, step, f"terraform binary not found: {self.binary}"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise TerraformError(self.stack, step, f"timed out after {exc.timeout:g}s") from exc

        diagnostics = json_diagnostics(result.stdout) if "-json" in args else []
        for severity, text in diagnostics:
            if severity == "warning":
                log.warning("terraform %s (stack %s): %s", step, self.stack, text)
        if result.returncode in ok_codes:
            return result

        errors = [text for severity, text in diagnostics if severity == "error"]
        if errors:
            message = "; ".join(errors)
        else:
            message = _one_line(result.stderr) or _one_line(result.stdout)
            message = message or "no error message"
        raise TerraformError(self.stack, step, f"{message} (exit {result.returncode})")
