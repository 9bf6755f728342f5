"""A real RFC 3161 time-stamping authority on 127.0.0.1 for the tests.

The keys and certificates are made with ``cryptography`` (a CA, and a TSA certificate it
signs with the critical extended key usage timeStamping); the replies are made by the
OpenSSL command line (``openssl ts -reply``), so no ASN.1 is written by hand. The HTTP
server is ``http.server`` in a thread, on a free port.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_OPENSSL_CONFIG = """\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/chain.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def make_tsa_files(folder: Path) -> dict[str, Path]:
    """CA + TSA key and certificates in ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("S4 test TSA root"))
          .issuer_name(_name("S4 test TSA root")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa = (x509.CertificateBuilder().subject_name(_name("S4 test TSA"))
           .issuer_name(ca.subject).public_key(tsa_key.public_key())
           .serial_number(x509.random_serial_number()).not_valid_before(now)
           .not_valid_after(now + dt.timedelta(days=30))
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                          critical=True)
           .sign(ca_key, hashes.SHA256()))
    paths = {"key": folder / "tsa.key", "cert": folder / "tsa.crt", "ca": folder / "ca.crt",
             "chain": folder / "chain.pem", "bundle": folder / "tsa-bundle.pem",
             "config": folder / "openssl-tsa.cnf"}
    paths["key"].write_bytes(tsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    paths["cert"].write_bytes(_pem(tsa))
    paths["ca"].write_bytes(_pem(ca))
    paths["chain"].write_bytes(_pem(ca))
    paths["bundle"].write_bytes(_pem(tsa) + _pem(ca))  # what S4's tsa_certificate names
    (folder / "serial").write_text("01\n")
    paths["config"].write_text(_OPENSSL_CONFIG.format(dir=folder))
    return paths


@dataclass
class LocalTsa:
    """A running loopback TSA: ``url`` to POST queries to, ``bundle`` for S4's settings."""

    folder: Path
    paths: dict[str, Path]
    server: ThreadingHTTPServer | None = None
    requests: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/tsa"

    @property
    def bundle(self) -> Path:
        return self.paths["bundle"]

    def reply(self, query: bytes) -> bytes:
        with self.lock, tempfile.TemporaryDirectory(dir=self.folder) as scratch:
            query_file = Path(scratch) / "query.tsq"
            reply_file = Path(scratch) / "reply.tsr"
            query_file.write_bytes(query)
            subprocess.run(["openssl", "ts", "-reply", "-config", str(self.paths["config"]),
                            "-queryfile", str(query_file), "-out", str(reply_file)],
                           check=True, capture_output=True)
            return reply_file.read_bytes()

    def start(self) -> LocalTsa:
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                query = self.rfile.read(length)
                tsa.requests.append(query)
                if self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_error(415, "expected application/timestamp-query")
                    return
                body = tsa.reply(query)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # keep test output quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def start_local_tsa(folder: Path) -> LocalTsa:
    return LocalTsa(folder, make_tsa_files(folder)).start()
