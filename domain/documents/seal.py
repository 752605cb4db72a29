"""The company seal on a service order: a PAdES signature by the company's certificate, with an RFC 3161 timestamp
where a time-stamping authority is configured, added by the worker after the PDF is rendered.

Why a seal: the customer's finger-drawn signature is an image in a PDF anyone can edit. The seal makes any later
change detectable (电子签名法 Article 13): it signs the whole file with the company's key, and the timestamp proves
the time from a third party rather than the server's clock.

Choices, and why:
- An invisible signature (a signature field with no widget area), not a visible seal box. A visible box needs an
  appearance stream drawn over a page WeasyPrint laid out (it would cover printed text on some orders), and
  pyHanko draws its text with a standard font it does not embed, which PDF/A forbids: the order would stop being
  PDF/A-3B. The printed order already tells the reader how to check it (the QR code to /verify); PDF readers list
  the invisible signature in their signature panel.
- An incremental update: the rendered file's bytes stay as they are (its PDF/A-3 identification, the XMP
  metadata, the embedded fonts and the attached JSON), the signature is appended.
- One signature whose byte range covers the whole file: the validation data (certificates, revocation information
  where the certificates name any) goes into the document security store in the signature's own revision
  (PAdES B-LT in a single revision), not in a later update that the signature would not cover.

The key: a PKCS#12 file (SEAL_PKCS12, SEAL_PASSWORD), or, without one, a self-signed certificate in the company's
name generated into the instance folder at first use (as the secret key is), readable by this user only, and reused
afterwards. The verify page says when the certificate is one the server made itself.
"""
from __future__ import annotations

import functools
import io
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..core.site import Site

log = logging.getLogger(__name__)

SEAL_FIELD = "CompanySeal"
GENERATED_SEAL_FILE = "seal.p12"
TSA_TIMEOUT_SECONDS = 15


class SealUnavailable(Exception):
    """The seal cannot be applied now (the key cannot be read, the time-stamping authority does not answer): the
    order stays rendered and the worker tries again later."""


@dataclass(frozen=True)
class SealIdentity:
    """The company's signing key and certificate, loaded once per process."""

    signer: object  # pyhanko SimpleSigner
    certificate: object  # asn1crypto x509.Certificate
    chain: tuple  # the certificates the PKCS#12 file carries besides the company's own
    self_created: bool

    @property
    def fingerprint(self) -> str:
        return self.certificate.sha256.hex()

    @property
    def subject(self) -> str:
        return self.certificate.subject.human_friendly


def generated_seal_path(instance_path: str) -> Path:
    return Path(instance_path) / GENERATED_SEAL_FILE


def generate_seal_file(path: Path, company: str, password: str | None) -> None:
    """A self-signed certificate in the company's name (RSA 3072, valid 20 years), written once: an exclusive
    create, mode 0600, so that two processes starting at once keep the first one written."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (company or "fieldservice")[:64]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, (company or "fieldservice")[:64])])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365 * 20))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                  else serialization.NoEncryption())
    data = pkcs12.serialize_key_and_certificates(b"company seal", key, certificate, None, encryption)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def seal_file(site: Site) -> tuple[Path, bool]:
    """(the PKCS#12 file, whether the server generated it), generating it first when none is configured."""
    if site.seal_pkcs12:
        return Path(site.seal_pkcs12), False
    if not site.instance_path:
        raise SealUnavailable("no SEAL_PKCS12 and no instance folder to keep a generated certificate in")
    path = generated_seal_path(site.instance_path)
    if not path.exists():
        generate_seal_file(path, site.company, site.seal_password)
        log.warning("generated a self-signed company seal certificate into %s", path)
    return path, True


def seal_identity(site: Site) -> SealIdentity:
    path, self_created = seal_file(site)
    try:
        stat = path.stat()
    except OSError as error:
        raise SealUnavailable(f"cannot read the seal file {path}: {error}") from None
    return _load_identity(str(path), stat.st_mtime_ns, site.seal_password, self_created)


@functools.lru_cache(maxsize=4)
def _load_identity(path: str, _mtime: int, password: str | None, self_created: bool) -> SealIdentity:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    from pyhanko.sign.signers import SimpleSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    try:
        key, certificate, others = pkcs12.load_key_and_certificates(
            Path(path).read_bytes(), password.encode() if password else None)
    except (OSError, ValueError) as error:
        raise SealUnavailable(f"cannot open the seal file {path} (wrong SEAL_PASSWORD?): {error}") from None
    if key is None or certificate is None:
        raise SealUnavailable(f"the seal file {path} holds no key and certificate")
    from asn1crypto import keys as asn1_keys

    signing_key = asn1_keys.PrivateKeyInfo.load(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    chain = tuple(asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in others or ())
    class KeptKeySigner(SimpleSigner):
        """pyHanko's signer, with the key parsed once: it parses it again for every signature, and checking an
        RSA 3072 key costs 0.1 s, twice a seal (the size estimate signs too)."""

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            from cryptography.hazmat.primitives.asymmetric import padding, rsa
            from pyhanko.sign.general import get_pyca_cryptography_hash

            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
            if isinstance(key, rsa.RSAPrivateKey) and mechanism["algorithm"].native in (
                    "rsassa_pkcs1v15", "sha256_rsa", "sha384_rsa", "sha512_rsa"):
                return key.sign(data, padding.PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
            return super().sign_raw(data, digest_algorithm)

        async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run=False) -> bytes:
            if dry_run and isinstance(key, rsa_key_type):
                return bytes(key.key_size // 8)  # the size estimate needs the length, not a signature
            return self.sign_raw(data, digest_algorithm)

    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey as rsa_key_type

    signer = KeptKeySigner(signing_cert=cert, signing_key=signing_key,
                           cert_registry=SimpleCertificateStore.from_certs([cert, *chain]))
    return SealIdentity(signer=signer, certificate=cert, chain=chain, self_created=self_created)


# --- the time-stamping authority ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _timestamper(url: str):
    """One client per TSA and process: pyHanko keeps the TSA's certificates from its first answer."""
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    class TimeRecordingStamper(RequestsHTTPTimeStamper):
        """Keeps the time of the last token it received: the seal's certified time, without parsing the sealed
        file again (40 ms on a 200 KB order). Worker tasks are processes, one seal at a time in each."""

        last_time: datetime | None = None

        async def async_timestamp(self, message_digest, md_algorithm):
            token = await super().async_timestamp(message_digest, md_algorithm)
            tst_info = token["content"]["encap_content_info"]["content"].parsed
            self.last_time = tst_info["gen_time"].native
            return token

    return TimeRecordingStamper(url, timeout=TSA_TIMEOUT_SECONDS)


def outside_any_event_loop(call, *args, **kwargs):
    """pyHanko's blocking calls run an asyncio loop of their own (asyncio.run). From a thread where a loop already
    runs (an async server; a test driving Chromium through Playwright's sync API) that fails, and the coroutine it
    made is left for the garbage collector to warn about at any later moment: there, they run in a thread of their
    own."""
    import asyncio
    import concurrent.futures

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call(*args, **kwargs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pyhanko") as pool:
        return pool.submit(call, *args, **kwargs).result()


def _tsa_anchors(timestamper) -> list:
    """The top of the certificate chain the TSA presents. The administrator chose this TSA by setting TSA_URL: its
    chain is taken as given, so that its certificates and revocation data can be embedded for later checks."""
    import asyncio

    outside_any_event_loop(lambda: asyncio.run(timestamper._ensure_dummy()))
    certs = list(timestamper.cert_registry)
    subjects = {c.subject.dump() for c in certs}
    top = [c for c in certs if c.self_signed != "no" or c.issuer.dump() not in subjects]
    return top or certs


def _validation_context(identity: SealIdentity, timestamper):
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

    roots = [identity.chain[-1] if identity.chain else identity.certificate]
    if identity.chain:
        roots.extend(identity.chain)
    if timestamper is not None:
        roots.extend(_tsa_anchors(timestamper))
    # Revocation data is fetched (with requests: aiohttp, pyHanko's default, is not installed) wherever a
    # certificate names a CRL or OCSP address, and embedded; a self-signed seal has none.
    return ValidationContext(trust_roots=roots, other_certs=list(identity.chain), allow_fetching=True,
                             revocation_mode="soft-fail", fetcher_backend=RequestsFetcherBackend())


# The space a seal's signature container takes in the file, per certificate and TSA, as pyHanko estimated it for the
# first seal of this process (with its 50% margin). pyHanko otherwise estimates it for every seal by building a
# whole dummy signature (a third of the seal's own work, TSA's answer aside); the size depends on the certificates
# and the TSA's token, not on the order. Should a container not fit (a TSA answering with more certificates), the
# seal is made again with a fresh estimate.
_reserved: dict[tuple[str, str | None], int | None] = {}


def _sign(signer, pdf: bytes, reserved: int | None) -> io.BytesIO:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    out = io.BytesIO()
    outside_any_event_loop(signer.sign_pdf, IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), output=out,
                           bytes_reserved=reserved)
    return out


def _space_reserved(update: memoryview) -> int | None:
    """The hex digits the seal's /Contents holds, read from its /ByteRange [0 a b c] (the digits lie between a and
    b, less the angle brackets), in the update the seal appended."""
    found = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)", bytes(update))
    return int(found[2]) - int(found[1]) - 2 if found else None


@dataclass(frozen=True)
class Sealed:
    pdf: bytes
    cert_sha256: str
    timestamp_at: datetime | None


def seal_pdf(pdf: bytes, site: Site, *, reason: str = "") -> Sealed:
    """The rendered PDF with the company seal appended (and the TSA's timestamp when TSA_URL is set). Raises
    SealUnavailable when the key or the TSA fails: nothing is half-written, the caller keeps the rendered PDF."""
    from pyhanko.sign import fields, signers
    from pyhanko.sign.general import SigningError
    from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
    from pyhanko.sign.timestamps import TimestampRequestError

    identity = seal_identity(site)
    timestamper = _timestamper(site.tsa_url) if site.tsa_url else None
    try:
        context = _validation_context(identity, timestamper)
        metadata = signers.PdfSignatureMetadata(
            field_name=SEAL_FIELD, subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256",
            name=site.company, reason=reason or None, embed_validation_info=True, validation_context=context,
            dss_settings=DSSContentSettings(placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE,
                                            include_vri=False))
        signer = signers.PdfSigner(metadata, signer=identity.signer, timestamper=timestamper,
                                   new_field_spec=fields.SigFieldSpec(SEAL_FIELD))
        reserve_key = (identity.fingerprint, site.tsa_url)
        reserved = _reserved.get(reserve_key)
        try:
            out = _sign(signer, pdf, reserved)
        except SigningError:
            if reserved is None:
                raise
            out = _sign(signer, pdf, None)  # the container outgrew what the last seal needed: estimate again
        _reserved[reserve_key] = _space_reserved(out.getbuffer()[len(pdf):])
    except TimestampRequestError as error:
        _timestamper.cache_clear()  # the TSA may come back with other certificates
        raise SealUnavailable(f"the time-stamping authority {site.tsa_url} did not answer: {error}") from None
    except SealUnavailable:
        raise
    except Exception as error:  # noqa: BLE001 - any signing failure keeps the rendered order, retried later
        _timestamper.cache_clear()
        raise SealUnavailable(f"{type(error).__name__}: {error}"[:1000]) from error
    return Sealed(pdf=out.getvalue(), cert_sha256=identity.fingerprint,
                  timestamp_at=timestamper.last_time if timestamper is not None else None)
