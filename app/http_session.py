"""The HTTP session of both AWS clients: aiobotocore's own, except that one TLS context serves both.

aiobotocore builds a TLS context per client at its first request and loads the CA bundle into each (botocore's
cacert.pem, or AWS_CA_BUNDLE): ~130 certificates parsed twice. Here the context is built once per bundle and
shared; a client with a proxy or a client certificate keeps aiobotocore's own path. Passed to the clients as
AioConfig(http_session_cls=...), aiobotocore's public hook for it.

Where the bundle has a `<bundle>.d` folder beside it, the same certificates in OpenSSL's hashed-folder form (the
layer build makes one for botocore's cacert.pem), the context takes that instead: OpenSSL then reads only the
certificates a chain needs, when it verifies one, instead of parsing all of them up front (~45 ms of CPU here).
"""

from __future__ import annotations

import asyncio
import os

import aiohttp
from aiobotocore.httpsession import AIOHTTPSession
from botocore.httpsession import create_urllib3_context, get_cert_path
from yarl import URL

PRECONNECT_TIMEOUT_S = 1.0  # a connection ahead of the first request must not hold INIT up

_contexts: dict[str, object] = {}  # CA bundle path -> the loaded context


def _load(ca_bundle: str):
    context = create_urllib3_context()
    hashed = ca_bundle + ".d"
    try:
        if os.path.isdir(ca_bundle):  # a hashed folder itself, as requests and botocore accept
            context.load_verify_locations(capath=ca_bundle)
        elif os.path.isdir(hashed):
            context.load_verify_locations(capath=hashed)
        else:
            context.load_verify_locations(ca_bundle, None, None)
    except OSError as exc:  # OpenSSL names neither the file nor that it is a CA bundle
        raise OSError(exc.errno, f"cannot load the CA bundle ({exc.strerror or exc})", ca_bundle) from exc
    return context


def shared_context(ca_bundle: str, required: bool = True):
    """The loaded context of a bundle. required=False (every endpoint is plain http): a bundle that cannot be loaded
    gives a context that trusts nothing, so an https call would still fail verification, never go unverified."""
    context = _contexts.get(ca_bundle)
    if context is None:
        try:
            context = _load(ca_bundle)
        except OSError:
            if required:
                raise
            return create_urllib3_context()
        _contexts[ca_bundle] = context  # only once loaded: a retry must not find a context that trusts nothing
    return context


class SharedTlsSession(AIOHTTPSession):
    bundle_required = True

    def _create_connector(self, proxy_url):
        ca_bundle = get_cert_path(self._verify) if self._verify else None
        if proxy_url or self._cert_file or not ca_bundle:
            return super()._create_connector(proxy_url)
        return aiohttp.TCPConnector(limit=self._max_pool_connections,
                                    ssl=shared_context(ca_bundle, self.bundle_required), **self._connector_args)

    async def open_for(self, url: str, connect: bool = False) -> bool:
        """Make the aiohttp session (connector, TLS context) a request to url goes through, ahead of it; with
        connect, also open one connection to url's host (TCP, and the TLS handshake for https) and leave it in the
        pool for that request, sending nothing on it. False: the connection could not be opened (the first
        request opens its own, and reports what is wrong)."""
        proxy_url = self._proxy_config.proxy_url_for(url)
        session = await self._get_session(proxy_url)
        if not connect or proxy_url:
            return not connect
        # The request aiohttp would make for url (the pool key: host, port, scheme, TLS settings), never sent.
        request = aiohttp.ClientRequest("POST", URL(url, encoded=True), loop=asyncio.get_running_loop(),
                                        session=session)
        try:
            connection = await asyncio.wait_for(session.connector.connect(request, [], session.timeout),
                                                PRECONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError, aiohttp.ClientError):
            return False
        connection.release()  # into the pool, kept alive like any finished request's
        return True


class PlainHttpSession(SharedTlsSession):
    """For a local AWS whose endpoints are all http://: aiohttp makes a TLS context even then, and a CA bundle
    that cannot be loaded must not stop calls that never use it."""

    bundle_required = False
