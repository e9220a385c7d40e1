"""A .dsc made from the signed Sources index, for a source whose files the mirror serves but whose .dsc
it does not (noble's xen, December 2026: .orig and .debian tarballs answer, the .dsc answers 404).

InRelease authenticates the Sources index, and its stanza carries every field of the .dsc and every
file's checksums, so nothing is trusted that the signed chain does not vouch for. The made .dsc is
a function of the stanza alone (fixed field order, no date, no signature): the same stanza gives the
same bytes, so the content key does not move while the mirror's other indices do."""

from __future__ import annotations

from collections.abc import Mapping

from debian.deb822 import Deb822

# fields the archive adds to a Sources stanza that a .dsc does not have (Package is the .dsc's Source)
ARCHIVE_ONLY = frozenset({"Package", "Directory", "Priority", "Section", "Extra-Source-Only"})
CHECKSUMS = ("Checksums-Sha1", "Checksums-Sha256", "Checksums-Sha512", "Files")  # dpkg-source's order: Files last


def _without(value: str, dsc_name: str) -> str:
    """A checksum list (one file a line, the name last) without the .dsc's own line."""
    lines = [ln for ln in value.splitlines() if ln.strip() and ln.split()[-1] != dsc_name]
    return "\n" + "\n".join(f" {ln.strip()}" for ln in lines)


def made_dsc(stanza: Mapping[str, str], dsc_name: str) -> bytes:
    """The .dsc text of a Sources stanza given as raw field values (Deb822, not the parsed lists):
    Source first as in the .dsc, the stanza's order for the rest, the checksum fields last without the
    .dsc's own line. Unsigned: its files are checked against the signed index, not against it."""
    out = Deb822()
    if "Format" in stanza:
        out["Format"] = stanza["Format"]
    out["Source"] = stanza["Package"]
    for name, value in stanza.items():
        if name in ARCHIVE_ONLY or name in CHECKSUMS or name in out:
            continue
        out[name] = value
    for name in CHECKSUMS:
        if name in stanza:
            out[name] = _without(stanza[name], dsc_name)
    text: str = out.dump()
    return text.encode()
