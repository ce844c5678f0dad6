"""``batchwright serve`` and ``batchwright keys``: the HTTP service and its API keys.

Registered on the ``app`` of ``batch.cli.app`` when ``batch.cli`` is imported. FastAPI
and uvicorn are imported by ``serve`` only, so the other commands start as fast as before.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from batch.cli.app import app, err, handle_errors, out
from batch.cli.global_options import State, with_global_options
from batch.exceptions import ConfigurationError
from batch.settings import BatchSettings, load_settings
from batch.store import ManifestStore
from batch.store._api_keys import ApiKeyStore

__all__ = ["keys_app", "serve"]

keys_app = typer.Typer(help="API keys of the service: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _settings(**config: Any) -> BatchSettings:
    return load_settings({**State.config, **config})


@keys_app.command("create")
@with_global_options
@handle_errors
def create_key(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. ci or dashboard.")],
    scope: Annotated[
        str, typer.Option(help="read (list, status, reports) or write (also create, cancel...).")
    ] = "read",
) -> None:
    """Create a key and print it once, alone on stdout's line: only its hash is kept."""
    if scope not in ("read", "write"):
        raise ConfigurationError(f"--scope {scope!r}: use read or write")
    with ManifestStore.for_settings(_settings()) as store:
        record, key = ApiKeyStore(store).create(name, "write" if scope == "write" else "read")
    out.print(key, highlight=False, soft_wrap=True)
    err.print(
        f"key {record.name!r} (id {record.key_id}, scope {record.scope}) created; "
        "it is shown only this once",
        highlight=False,
    )


@keys_app.command("list")
@with_global_options
@handle_errors
def list_keys() -> None:
    """Every key: id, name, scope, when created, when revoked (never the key)."""
    with ManifestStore.for_settings(_settings()) as store:
        records = ApiKeyStore(store).list()
    if not records:
        out.print("no API keys yet: `batchwright keys create NAME --scope write`")
        return
    table = Table("id", "name", "scope", "created", "revoked", box=box.SIMPLE_HEAD, pad_edge=False)
    for record in records:
        revoked = record.revoked_at.strftime("%Y-%m-%d %H:%M") if record.revoked_at else ""
        table.add_row(
            record.key_id,
            record.name,
            record.scope,
            record.created_at.strftime("%Y-%m-%d %H:%M"),
            revoked,
        )
    out.print(table)


@keys_app.command("revoke")
@with_global_options
@handle_errors
def revoke_key(name_or_id: Annotated[str, typer.Argument(help="The key's name or id.")]) -> None:
    """Revoke a key: requests with it get 401 at once, its dashboard sessions end."""
    with ManifestStore.for_settings(_settings()) as store:
        record = ApiKeyStore(store).revoke(name_or_id)
    out.print(f"key {record.name!r} (id {record.key_id}) revoked")


@app.command()
@with_global_options
@handle_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default 127.0.0.1: this machine only).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8080).", min=0)] = None,
) -> None:
    """Serve the HTTP API (/api/v1, docs at /api/v1/docs) until SIGINT or SIGTERM."""
    import uvicorn  # noqa: PLC0415 - the server's dependencies load for `serve` only

    from batch.service.app import create_app  # noqa: PLC0415 - same

    settings = _settings(service_host=host, service_port=port)
    ManifestStore.for_settings(settings).close()  # a bad store fails here, in one line
    if not _is_loopback(settings.service_host):
        err.print(
            f"warning: serving on {settings.service_host}, reachable from other machines: "
            "put TLS in front of it (keys travel in every request)",
            highlight=False,
        )
    config = uvicorn.Config(
        create_app(settings),
        host=settings.service_host,
        port=settings.service_port,
        log_level="debug" if State.debug else "info",
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
