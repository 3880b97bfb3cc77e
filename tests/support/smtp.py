"""A real SMTP server for tests: aiosmtpd in a thread on 127.0.0.1, keeping what it receives.

    smtp_url, messages, stop = start_smtp_server()
    ...  # send through smtp_url
    messages  # parsed email.message.EmailMessage objects, in order of arrival
    stop()

The returned SmtpServer also has `.url`, `.port`, `.messages` and `.received` (with envelopes).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    """One message as the server got it: envelope, parsed message, and who logged in."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class SmtpServer:
    url: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    _controller: Controller | None = None

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __iter__(self) -> Iterator[Any]:
        # Unpacks as (smtp_url, messages, stop).
        stop: Callable[[], None] = self.stop
        return iter((self.url, self.messages, stop))


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server
        self._lock = threading.Lock()

    async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.decode() if session.authenticated else None
        with self._lock:
            self._server.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message, login)
            )
            self._server.messages.append(message)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd 1.4 cannot listen on port 0 by itself (it connects to `port` to see it is up),
    so bind first and read the kernel's choice back: no probe-then-bind race."""

    def _create_server(self) -> Any:
        async def create() -> asyncio.AbstractServer:
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


def start_smtp_server(port: int = 0, credentials: tuple[str, str] | None = None) -> SmtpServer:
    """Start a server on 127.0.0.1 (on a free port unless one is given).

    With `credentials`, AUTH PLAIN/LOGIN is offered and checked against them, without TLS (the
    loopback only). A client that does not log in may still send: requiring AUTH without TLS
    makes aiosmtpd warn, an error under the suite's settings; the test checks `received[].login`.
    """
    kwargs: dict[str, Any] = {}
    if credentials is not None:

        def authenticator(
            _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and (
                    data.login.decode(),
                    data.password.decode(),
                )
                == credentials
            )
            return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)

        kwargs.update(authenticator=authenticator, auth_require_tls=False)
    server = SmtpServer(url="", port=0)
    controller = _Controller(
        _Handler(server), hostname="127.0.0.1", port=port, server_hostname="smtp.test", **kwargs
    )
    controller.start()
    server.port = controller.port
    server.url = f"smtp://127.0.0.1:{controller.port}"
    server._controller = controller
    return server
