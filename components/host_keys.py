"""SSH host keys for the VMs this program creates (pure functions, no Pulumi).

Every remote step carries secrets to its host over SSH (join tokens on stdin, the Ceph key), so the runner must
know whom it talks to. A VM's host key is derived from the stack's secret ``hostKeySeed`` and the VM's name, put
into its cloud-init user-data (which becomes a secret) and pinned in every remote step's connection. Derived, not
random: the same config gives the same keys on every run, so nothing shows as changed.

The private key is written in OpenSSH's own format by hand: the ``cryptography`` writer puts a random check
number in it, which would make the user-data differ on every run."""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_TYPE = b"ssh-ed25519"
_SALT = b"swarm-ceph ssh host key v1"


@dataclass(frozen=True)
class HostKey:
    private_openssh: str  # secret: the host's private key, OpenSSH format
    public: str  # "ssh-ed25519 AAAA...", as connection.hostKey and known_hosts take it


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def derive_host_key(seed: str, host: str) -> HostKey:
    """The ed25519 host key of ``host``: HKDF-SHA256 of ``seed`` (salted, with the host name as context) gives the
    32-byte private key and the check number of the OpenSSH encoding."""
    material = HKDF(algorithm=hashes.SHA256(), length=36, salt=_SALT, info=host.encode()).derive(seed.encode())
    secret, check = material[:32], material[32:]
    public = Ed25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
    blob = _string(KEY_TYPE) + _string(public)
    private = check + check + blob + _string(secret + public) + _string(f"root@{host}".encode())
    private += bytes(range(1, 1 + (-len(private) % 8)))  # padding to the cipher block size (8 for "none")
    body = b"openssh-key-v1\0" + _string(b"none") + _string(b"none") + _string(b"") + struct.pack(">I", 1)
    body += _string(blob) + _string(private)
    text = base64.b64encode(body).decode()
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return HostKey(
        private_openssh="\n".join(["-----BEGIN OPENSSH PRIVATE KEY-----", *lines, "-----END OPENSSH PRIVATE KEY-----"])
        + "\n",
        public=f"{KEY_TYPE.decode()} {base64.b64encode(blob).decode()}",
    )
