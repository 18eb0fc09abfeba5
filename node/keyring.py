"""The node's own keys and its signed identity document, kept in the data directory.

Layout (every file mode 0600, the directory 0700)::

    keys/<kid>.key      private keys (Ed25519 signing, X25519 encryption)
    identity.json       the current signed identity document

Rotation makes new keys, marks the old ones retired (they still verify what
they signed and still open envelopes sealed to them) and signs the successor
document with both the old and the new signing key, so peers can follow the
chain. Revocation marks a key revoked from a given time.

``identity.json`` is re-read whenever it changed on disk, so a rotation or
revocation made by ``cordon keys`` in another process takes effect in the
running node at once: it signs with the new key and opens envelopes sealed to
it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path

from federation.identity import (
    MAX_CHAIN, build_document, current_key, document_keys, fingerprint, next_document, sign_document,
    verify_self_signed,
)
from federation.keys import (
    ENC, REVOKED, SIG, KeyInfo, format_time, load_private_key, new_encryption_key, new_signing_key,
    save_private_key,
)

from .config import Settings
from .errors import Conflict, NotFound

KEY_LIFETIME = dt.timedelta(days=730)
IDENTITY_NAME = "identity.json"
CHAIN_NAME = "identity-chain.json"  # every signed identity document this node issued, oldest first
KEYS_DIR = "keys"


def write_private_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically with a file only the owner can read."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _file_stamp(path: Path) -> tuple:
    info = path.stat()
    return (info.st_mtime_ns, info.st_size, info.st_ino)


class Keyring:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self._lock = threading.Lock()
        self._signed: dict | None = None
        self._stamp: tuple | None = None
        self._private: dict[str, object] = {}

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / KEYS_DIR

    def _key_path(self, kid: str) -> Path:
        return self.keys_dir / (kid.replace(":", "_") + ".key")

    # -- creation ---------------------------------------------------------
    @classmethod
    def create(cls, data_dir: Path, settings: Settings, now: dt.datetime) -> "Keyring":
        ring = cls(data_dir)
        ring.keys_dir.mkdir(mode=0o700, exist_ok=False)
        infos = ring._new_keys(now)
        document = build_document(
            node_id=settings.node_id, name=settings.name, base_url=settings.base_url, role=settings.role,
            serial=1, issued_at=format_time(now), keys=infos,
        )
        ring._publish(sign_document(document, [(infos[0].kid, ring.private(infos[0].kid))]))
        return ring

    def _new_keys(self, now: dt.datetime) -> list[KeyInfo]:
        infos = []
        for key in (new_signing_key(), new_encryption_key()):
            info = KeyInfo.for_key(key, format_time(now), format_time(now + KEY_LIFETIME))
            save_private_key(self._key_path(info.kid), key)
            self._private[info.kid] = key
            infos.append(info)
        return infos

    # -- reading ----------------------------------------------------------
    def signed_identity(self) -> dict:
        """The current signed identity document, as ``identity.json`` holds it now."""
        path = self.data_dir / IDENTITY_NAME
        stamp = _file_stamp(path)
        with self._lock:
            if self._signed is None or stamp != self._stamp:
                signed = json.loads(path.read_text(encoding="utf-8"))
                verify_self_signed(signed)
                self._signed, self._stamp = signed, stamp
            return self._signed

    @property
    def document(self) -> dict:
        return self.signed_identity()["document"]

    def chain(self) -> list[dict]:
        """Every signed identity document this node issued, oldest first, ending with the current one: what a
        peer that missed some of them follows (``federation.identity.follow_chain``). A data directory made
        before the chain was kept starts it with its current document."""
        current = self.signed_identity()
        try:
            chain = json.loads((self.data_dir / CHAIN_NAME).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return [current]
        serial = current["document"]["serial"]
        return ([signed for signed in chain if signed["document"]["serial"] < serial] + [current])[-MAX_CHAIN:]

    def fingerprint(self) -> str:
        return fingerprint(self.document)

    def private(self, kid: str):
        with self._lock:
            key = self._private.get(kid)
            if key is None:
                key = load_private_key(self._key_path(kid))
                self._private[kid] = key
            return key

    def signing_key(self):
        """(kid, SigningKey) of the current signing key."""
        info = current_key(self.document, SIG)
        return info.kid, self.private(info.kid)

    def encryption_key(self):
        """(kid, PrivateKey) of the current encryption key."""
        info = current_key(self.document, ENC)
        return info.kid, self.private(info.kid)

    def encryption_keys(self) -> dict:
        """Every encryption private key still on disk, by kid (sealed batches may name an older one)."""
        out = {}
        for kid, info in document_keys(self.document).items():
            if info.use == ENC and info.status != REVOKED and self._key_path(kid).exists():
                out[kid] = self.private(kid)
        return out

    # -- changes ----------------------------------------------------------
    def rotate(self, now: dt.datetime) -> dict:
        keys = [info.retired() if info.status == "active" else info for info in document_keys(self.document).values()]
        fresh = self._new_keys(now)
        successor = next_document(self.document, issued_at=format_time(now), keys=keys + fresh)
        signed = sign_document(successor, self._endorsers(keys + fresh))
        self._publish(signed)
        return signed

    def revoke(self, kid: str, now: dt.datetime) -> dict:
        keys = document_keys(self.document)
        if kid not in keys:
            raise NotFound(f"no key {kid} in this node's identity", fields={"kid": "not listed"})
        if keys[kid].status == REVOKED:
            raise Conflict(f"key {kid} is already revoked", fields={"kid": "already revoked"})
        current_sig, _ = self.signing_key()
        if kid == current_sig:
            raise Conflict("rotate first: the current signing key cannot revoke itself",
                           fields={"kid": "is the current signing key; run 'cordon keys rotate' first"})
        if kid == current_key(self.document, ENC).kid:
            raise Conflict("rotate first: peers seal everything to the current encryption key",
                           fields={"kid": "is the current encryption key; run 'cordon keys rotate' first"})
        updated = [info.revoked(format_time(now)) if info.kid == kid else info for info in keys.values()]
        successor = next_document(self.document, issued_at=format_time(now), keys=updated)
        signed = sign_document(successor, self._endorsers(updated))
        self._publish(signed)
        return signed

    def update_profile(self, now: dt.datetime, *, name=None, base_url=None) -> dict:
        successor = next_document(self.document, issued_at=format_time(now), name=name, base_url=base_url)
        signed = sign_document(successor, self._endorsers(document_keys(successor).values()))
        self._publish(signed)
        return signed

    def _endorsers(self, keys) -> list:
        """(kid, SigningKey) of every signing key among ``keys`` that is not revoked and is still on disk: the
        current one and the retired ones. A peer accepts a later identity when a key active in the one it
        trusts signed it, so a peer that missed two rotations or more still follows the chain."""
        return [(info.kid, self.private(info.kid)) for info in keys
                if info.use == SIG and info.status != REVOKED and self._key_path(info.kid).exists()]

    def _publish(self, signed: dict) -> None:
        verify_self_signed(signed)
        path = self.data_dir / IDENTITY_NAME
        chain = [*self.chain(), signed] if path.exists() else [signed]
        # The identity in force first: a chain written only then never holds a document that was not.
        write_private_file(path, json.dumps(signed, indent=2, ensure_ascii=False) + "\n")
        with self._lock:
            self._signed, self._stamp = signed, _file_stamp(path)
        write_private_file(self.data_dir / CHAIN_NAME, json.dumps(chain, ensure_ascii=False) + "\n")
