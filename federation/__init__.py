"""Everything that crosses the wire between Cordon nodes.

No Flask, no SQL, nothing done on import. What the package needs from
storage it states as small Protocols (for example
``federation.http_signature.NonceRegistry``).

Wire format (described for other implementations in ``docs/protocol.md``):

- ``federation.errors``: ``FederationError`` and one subclass per refusal,
  each with a stable ``code``.
- ``federation.canonical``: RFC 8785 canonical JSON without floats.
- ``federation.keys``: Ed25519 / X25519 keys, key ids, key metadata,
  private key files.
- ``federation.identity``: self-signed identity documents, fingerprints,
  rotation and revocation.
- ``federation.record_signature``: record views signed as compact JWS.
- ``federation.envelope``: batches sealed with NaCl Box.
- ``federation.content_digest``: RFC 9530 Content-Digest.
- ``federation.http_signature``: RFC 9421 request signatures.
"""
