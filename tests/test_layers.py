"""The import directions of docs/architecture.md, enforced: each package imports only the
layers below it, and only one client module speaks to `websockets` directly."""

from __future__ import annotations

from pathlib import Path

from imports_of import imports_of

import realtime_cli

PACKAGE = Path(realtime_cli.__file__).parent
FOUNDATION = {"__init__", "clock", "errors", "usage", "text", "secrets_policy", "percentiles", "pricing",
              "__version__"}

# What each part may import from rt besides itself and the foundation.
ALLOWED: dict[str, set[str]] = {
    "foundation": set(),
    "protocol": set(),
    "core": {"protocol"},
    "audio": {"protocol"},
    "transport": set(),
    "tools": {"core"},
    "storage": {"core", "audio", "protocol"},
    "settings": {"core", "audio", "tools"},
    "ui": {"core", "audio", "protocol"},
    "server": {"protocol", "audio"},
    "runtime": {"core", "protocol", "transport", "audio", "storage", "ui", "tools"},
    "testing": {"core", "protocol", "transport", "audio", "storage", "server", "runtime",
                "settings"},
    "cli": {"core", "protocol", "transport", "audio", "storage", "ui", "tools", "settings",
            "runtime", "server"},
    "__main__": {"cli"},
}


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    name = rel.parts[0] if len(rel.parts) > 1 else rel.stem
    return "foundation" if name in FOUNDATION else name


def _rt_part(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "realtime_cli" or len(parts) < 2:
        return None
    return "foundation" if parts[1] in FOUNDATION else parts[1]


def test_every_module_imports_only_downwards() -> None:
    wrong: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = _part(path)
        assert part in ALLOWED, f"{path.relative_to(PACKAGE)}: a part docs/architecture.md lacks"
        for module in imports_of(path):
            target = _rt_part(module)
            if target is None or target in (part, "foundation"):
                continue
            if target not in ALLOWED[part]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert sorted(set(wrong)) == []


def test_only_the_websocket_transport_and_the_server_import_websockets() -> None:
    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                   if any(m.split(".")[0] == "websockets" for m in imports_of(p)))
    client = [u for u in users if not u.startswith("server/")]
    assert client == ["transport/websocket.py"]
