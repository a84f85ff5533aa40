"""A throwaway certificate authority for HTTPS on loopback (the fault proxy as a TLS endpoint), made with the
openssl command line: a CA, and a server certificate it signed for 127.0.0.1 and localhost."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path


def make_certificates(folder: Path) -> dict[str, Path]:
    """ca.pem (the bundle a client must trust), server.pem + server.key; all under folder."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in ("ca.pem", "ca.key", "server.pem", "server.key", "server.csr")}

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=locallambda test CA",
            "-keyout", str(paths["ca.key"]), "-out", str(paths["ca.pem"]))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(paths["server.key"]),
            "-out", str(paths["server.csr"]))
    extensions = folder / "server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", str(paths["server.csr"]), "-CA", str(paths["ca.pem"]), "-CAkey",
            str(paths["ca.key"]), "-CAcreateserial", "-days", "2", "-extfile", str(extensions),
            "-out", str(paths["server.pem"]))
    return paths


def server_context(certificates: dict[str, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates["server.pem"], certificates["server.key"])
    return context
