"""Drive the pinned solc-js (npm `solc`, see solidity/package.json) with standard JSON.

Why a wrapper: tests and the CLI need one compiler version, artifacts cached by
(source hash, compiler version, settings), and errors a person can act on
(`file:line:col: message`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLIDITY_DIR = REPO_ROOT / "solidity"
PINNED_VERSION = (SOLIDITY_DIR / "VERSION").read_text().strip() if (SOLIDITY_DIR / "VERSION").exists() else "0.8.37"
EVM_VERSION = "prague"  # newest fork supported by both py-evm 0.12.1b1 and solc 0.8.37
DEFAULT_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": EVM_VERSION,
    "viaIR": False,
}
_DRIVER = r"""
const path = require('path');
const solc = require(process.argv[1]);
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', c => input += c);
process.stdin.on('end', () => {
  const out = solc.compile(input);
  process.stdout.write(JSON.stringify({version: solc.version(), output: JSON.parse(out)}));
});
"""


class CompilerError(Exception):
    """Raised when solc reports errors; the message lists them as file:line:col: message."""


@dataclass(frozen=True)
class Artifact:
    contract_name: str
    source_path: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-hex init code
    deployed_bytecode: str
    compiler: str

    def to_json(self) -> dict[str, Any]:
        return {
            "contractName": self.contract_name,
            "sourceName": self.source_path,
            "abi": self.abi,
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
            "compiler": {"name": "solc-js", "version": self.compiler, "evmVersion": EVM_VERSION},
        }


def solc_module_dir() -> Path:
    override = os.environ.get("PRIVNET_SOLC_DIR")
    return Path(override) if override else SOLIDITY_DIR / "node_modules" / "solc"


def _cache_dir() -> Path:
    return Path(os.environ.get("PRIVNET_SOLC_CACHE", REPO_ROOT / "build" / "solc-cache"))


def _line_col(text: str, offset: int) -> tuple[int, int]:
    before = text.encode()[:offset].decode(errors="replace")
    line = before.count("\n") + 1
    col = len(before) - (before.rfind("\n") + 1) + 1
    return line, col


def _format_errors(errors: list[dict[str, Any]], sources: dict[str, str]) -> str:
    lines = []
    for err in errors:
        loc = err.get("sourceLocation") or {}
        file = loc.get("file", "<input>")
        text = sources.get(file, "")
        line, col = _line_col(text, int(loc.get("start", 0))) if text else (0, 0)
        lines.append(f"{file}:{line}:{col}: {err.get('severity', 'error')}: {err.get('message', '')}")
    return "\n".join(lines)


def _run_solc(standard_input: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        raise CompilerError("node is not installed: solc-js needs Node.js (run `make install`)")
    module = solc_module_dir()
    if not (module / "package.json").exists():
        raise CompilerError(f"solc-js not found at {module}: run `make install`")
    proc = subprocess.run(
        [node, "-e", _DRIVER, str(module)],
        input=json.dumps(standard_input),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise CompilerError(f"solc-js failed: {proc.stderr.strip()[-2000:]}")
    result = json.loads(proc.stdout)
    return str(result["version"]), result["output"]


def compile_sources(sources: dict[str, str], settings: dict[str, Any] | None = None) -> dict[str, Artifact]:
    """Compile {source name: text}; return artifacts keyed by contract name.

    A contract name defined in two files is keyed `file:Name` for both.
    """
    effective = {**DEFAULT_SETTINGS, **(settings or {})}
    effective["outputSelection"] = {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}}
    standard_input = {"language": "Solidity", "sources": {k: {"content": v} for k, v in sources.items()},
                      "settings": effective}
    digest = hashlib.sha256(
        json.dumps({"input": standard_input, "version": PINNED_VERSION}, sort_keys=True).encode()
    ).hexdigest()
    cache_file = _cache_dir() / f"{digest}.json"
    if not cache_file.exists():
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        # one compilation per input: a second caller (a thread, another process) waits for the
        # first and reads its result instead of running solc-js again
        with open(cache_file.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not cache_file.exists():
                version, output = _run_solc(standard_input)
                errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
                if errors:
                    raise CompilerError(_format_errors(errors, sources))
                tmp = cache_file.with_suffix(".tmp")
                tmp.write_text(json.dumps([version, output]))
                tmp.replace(cache_file)
                return _artifacts(output, version)
    version, output = json.loads(cache_file.read_text())
    return _artifacts(output, version)


def _artifacts(output: dict[str, Any], version: str) -> dict[str, Artifact]:
    found: list[Artifact] = []
    for source_name, contracts in output.get("contracts", {}).items():
        for name, data in contracts.items():
            evm = data.get("evm", {})
            found.append(Artifact(
                contract_name=name,
                source_path=source_name,
                abi=data.get("abi", []),
                bytecode="0x" + evm.get("bytecode", {}).get("object", ""),
                deployed_bytecode="0x" + evm.get("deployedBytecode", {}).get("object", ""),
                compiler=version,
            ))
    names = [a.contract_name for a in found]
    return {(a.contract_name if names.count(a.contract_name) == 1 else f"{a.source_path}:{a.contract_name}"): a
            for a in found}


def collect_sources(paths: list[Path], base: Path | None = None) -> dict[str, str]:
    """Read .sol files (directories are walked); names are relative to `base` when possible."""
    base = (base or Path.cwd()).resolve()
    sources: dict[str, str] = {}
    for path in paths:
        files = sorted(path.rglob("*.sol")) if path.is_dir() else [path]
        for file in files:
            if "node_modules" in file.parts:
                continue
            resolved = file.resolve()
            try:
                name = str(resolved.relative_to(base))
            except ValueError:
                name = str(resolved)
            sources[name] = resolved.read_text()
    if not sources:
        raise CompilerError(f"no Solidity sources under: {', '.join(str(p) for p in paths)}")
    return sources


def compile_paths(paths: list[Path], settings: dict[str, Any] | None = None,
                  base: Path | None = None) -> dict[str, Artifact]:
    return compile_sources(collect_sources(paths, base), settings)


def write_artifacts(artifacts: dict[str, Artifact], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, artifact in sorted(artifacts.items()):
        target = out_dir / f"{key.replace('/', '_').replace(':', '__')}.json"
        target.write_text(json.dumps(artifact.to_json(), indent=2) + "\n")
        written.append(target)
    return written
