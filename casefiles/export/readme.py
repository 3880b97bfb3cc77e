"""`README.txt` of an export: how to check it, in plain words, in German, French, Italian and
English."""

from __future__ import annotations

from casefiles.export.format import BAGIT, METADATA_XML, PAYLOAD_FOLDER

_CHECKSUMS = {
    BAGIT: {
        "de": "manifest-sha256.txt nennt die SHA-256-Prüfsumme jeder Datei in data/.",
        "fr": "manifest-sha256.txt donne la somme SHA-256 de chaque fichier de data/.",
        "it": "manifest-sha256.txt indica la somma SHA-256 di ogni file in data/.",
        "en": "manifest-sha256.txt lists the SHA-256 checksum of every file in data/.",
    },
    "ech0160": {
        "de": f"{METADATA_XML} nennt die SHA-256-Prüfsumme jeder Datei in content/.",
        "fr": f"{METADATA_XML} donne la somme SHA-256 de chaque fichier de content/.",
        "it": f"{METADATA_XML} indica la somma SHA-256 di ogni file in content/.",
        "en": f"{METADATA_XML} lists the SHA-256 checksum of every file in content/.",
    },
}

_TEXT = {
    "de": """\
DEUTSCH

Dieses Paket enthält Dossiers aus dem {portal}: jedes Dokument in jeder Version, das
Journal jedes Dossiers mit seinen Signaturen, die Zustellnachweise, die Zertifikate der
Siegel und das Zertifikat der Zertifizierungsstelle (ca.pem).

So prüfen Sie das Paket:
1. Mit dem Portal: portal verify PAKET.zip --ca CA.pem
2. Ohne Portal: python3 verify_export.py PAKET.zip --ca CA.pem
   (tools/verify_export.py des Projekts; braucht nur Python 3 und "cryptography").
3. Von Hand: {checksums} Jede Zeile von journal.jsonl ist signiert und mit der
   vorherigen verkettet (docs/journal-format.md). Der SHA-256 jedes Dokuments steht im
   Journal-Eintrag "document.added" mit seiner version_id.
Vergleichen Sie den Fingerabdruck von ca.pem mit dem, den der Kanton veröffentlicht.
""",
    "fr": """\
FRANÇAIS

Ce paquet contient des dossiers du {portal}: chaque document dans chaque version, le
journal de chaque dossier avec ses signatures, les accusés de réception, les certificats
des sceaux et le certificat de l'autorité de certification (ca.pem).

Pour vérifier le paquet:
1. Avec le portail: portal verify PAQUET.zip --ca CA.pem
2. Sans le portail: python3 verify_export.py PAQUET.zip --ca CA.pem
   (tools/verify_export.py du projet; il suffit de Python 3 et de "cryptography").
3. À la main: {checksums} Chaque ligne de journal.jsonl est signée et chaînée à la
   précédente (docs/journal-format.md). Le SHA-256 de chaque document figure dans
   l'entrée "document.added" de sa version_id.
Comparez l'empreinte de ca.pem avec celle que publie le canton.
""",
    "it": """\
ITALIANO

Questo pacchetto contiene incarti del {portal}: ogni documento in ogni versione, il
giornale di ogni incarto con le sue firme, le ricevute di notifica, i certificati dei
sigilli e il certificato dell'autorità di certificazione (ca.pem).

Per verificare il pacchetto:
1. Con il portale: portal verify PACCHETTO.zip --ca CA.pem
2. Senza il portale: python3 verify_export.py PACCHETTO.zip --ca CA.pem
   (tools/verify_export.py del progetto; bastano Python 3 e "cryptography").
3. A mano: {checksums} Ogni riga di journal.jsonl è firmata e concatenata alla
   precedente (docs/journal-format.md). Lo SHA-256 di ogni documento è nella voce
   "document.added" della sua version_id.
Confrontate l'impronta di ca.pem con quella pubblicata dal Cantone.
""",
    "en": """\
ENGLISH

This package holds case files from the {portal}: every document in every version, each
case file's journal with its signatures, the delivery receipts, the seals' certificates and
the certificate authority's certificate (ca.pem).

To check the package:
1. With the portal: portal verify PACKAGE.zip --ca CA.pem
2. Without the portal: python3 verify_export.py PACKAGE.zip --ca CA.pem
   (the project's tools/verify_export.py; it needs only Python 3 and "cryptography").
3. By hand: {checksums} Every line of journal.jsonl is signed and chained to the one
   before (docs/journal-format.md). Each document's SHA-256 is in the journal's
   "document.added" entry for its version_id.
Compare the fingerprint of ca.pem with the one the canton publishes.
""",
}


def readme_text(packaging: str, portal: str, name: str, ca_sha256: str) -> bytes:
    payload = PAYLOAD_FOLDER[packaging]
    head = (
        f"{name}\n"
        f"einwohnerportal-export/1, {packaging}; files in {payload}/\n"
        f"CA SHA-256 (DER): {ca_sha256}\n\n"
    )
    parts = [
        _TEXT[lang].format(portal=portal, checksums=_CHECKSUMS[packaging][lang])
        for lang in ("de", "fr", "it", "en")
    ]
    return (head + "\n".join(parts)).encode("utf-8")
