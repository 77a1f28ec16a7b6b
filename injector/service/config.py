"""What the service is told, checked before anything opens: the guns' ports, where to
listen, the record, how long a sign-in lasts."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from injector.service.events import CLIENT_QUEUE, RING_SIZE

SIM_PORT = "sim://"
SEND_RATE_HZ = 50.0
"""Messages a second to one WebSocket client; events waiting meanwhile go in the next one,
so a busy session costs a client fewer messages, never fewer events."""
SEND_BURST = 25
RECEIVE_RATE_HZ = 5.0
"""Messages a second a client may send (pings); past the burst, it is disconnected."""
RECEIVE_BURST = 20
SEND_BUFFER_BYTES = 64 * 1024
"""The kernel's send buffer of each connection: what a client that stopped reading can hold
before its queue fills and it is dropped (a few hundred events, not megabytes)."""


@dataclass(frozen=True)
class ServiceConfig:
    ports: tuple[str, ...] = (SIM_PORT,)
    host: str = "127.0.0.1"
    port: int = 0
    db: Path | None = None
    """None: the default record (injector.store.default_db_path)."""
    presets_dirs: tuple[Path, ...] = ()
    token_minutes: int = 30
    ring_size: int = RING_SIZE
    client_queue: int = CLIENT_QUEUE
    send_rate_hz: float = SEND_RATE_HZ
    send_burst: int = SEND_BURST
    receive_rate_hz: float = RECEIVE_RATE_HZ
    receive_burst: int = RECEIVE_BURST


def is_loopback(host: str) -> bool:
    """Every address `host` names is a loopback one (a name that resolves nowhere is not)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback
                               for info in infos)


def base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
