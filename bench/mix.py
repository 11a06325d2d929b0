"""A realistic, reproducible mix of inbound help-desk mail, shared by every benchmark.

The mix (fractions of all messages, from a seeded generator):

- 67 % new requests, each from its own requester (so the loop guard never holds back an
  acknowledgement), 33 % follow-ups from the requester of an earlier request: 25 % a client
  reply (``Re: [INFO#42] …`` with In-Reply-To/References) and 8 % a tag-only follow-up
  (``Re: [INFO#42] …`` without References, as webmail "new message" replies look);
- 70 % Spanish, 30 % English; three quarters to info@ (Spanish queue), a quarter to crm@
  (English queue);
- 55 % text/plain, 30 % multipart/alternative (text and HTML), 15 % HTML only;
- 12 % carry an attachment (PDF, JPEG or DOCX of random bytes, 4 KB to 200 KB
  log-uniform, some with accented file names, so RFC 2231 names);
- non-ASCII subjects are RFC 2047 encoded: UTF-8 B, UTF-8 Q or ISO-8859-1 Q; display
  names with accents are encoded too.

A follow-up names its ticket by number, which is known only once the original has been
stored: rendered messages carry ``TICKET_TOKEN`` where the number goes, and the sender
substitutes it (from the SMTP reply, or predicted: the k-th new request of a fresh store
opens ticket k when messages are taken in order, as over IMAP).
"""

from __future__ import annotations

import bisect
import html
import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Literal

TICKET_TOKEN = b"TICKETNUMBER"
REPLY_GAP = 64  # a follow-up refers to a request at least this many messages earlier
REPLY_WINDOW = 2000  # … and among the most recent this many requests

Kind = Literal["new", "reply", "tag-reply"]
Body = Literal["plain", "alternative", "html"]
SubjectCharset = Literal["utf-8-b", "utf-8-q", "iso-8859-1-q"]


@dataclass(frozen=True)
class QueueSpec:
    name: str
    tag: str
    address: str
    language: str


QUEUES = (
    QueueSpec("info", "INFO", "info@uni.example", "es"),
    QueueSpec("crm", "CRM", "crm@uni.example", "en"),
)


def queues_toml() -> str:
    """The [[queues]] tables a benchmark daemon needs for this mix."""
    return "".join(
        f'[[queues]]\nname = "{q.name}"\naddresses = ["{q.address}"]\ntag = "{q.tag}"\n'
        f'language = "{q.language}"\n\n'
        for q in QUEUES
    )


@dataclass(frozen=True)
class Attachment:
    filename: str
    maintype: str
    subtype: str
    size: int


@dataclass(frozen=True)
class Spec:
    """Everything needed to render one message, and what the store should make of it."""

    index: int
    kind: Kind
    queue: QueueSpec
    language: str
    sender: str
    sender_name: str
    subject: str  # the base subject, without prefix or tag
    message_id: str  # without angle brackets
    original: int | None  # index of the request a follow-up belongs to
    original_message_id: str | None
    body: Body
    subject_charset: SubjectCharset
    attachment: Attachment | None
    sentences: tuple[int, ...]  # indexes into the language's sentence list

    @property
    def needs_ticket(self) -> bool:
        return self.kind != "new"


_SENTENCES = {
    "es": (
        "Buenos días, quisiera solicitar una constancia de estudios para presentar en mi trabajo.",
        "No puedo acceder al campus virtual desde ayer; me dice que la contraseña es incorrecta.",
        "Necesito saber cuándo abre el período de inscripción para el próximo cuatrimestre.",
        "Pagué la matrícula por transferencia bancaria y todavía figura como pendiente.",
        "¿Podrían indicarme qué documentos hacen falta para solicitar la beca de excelencia?",
        "Adjunto el comprobante de pago y la copia de mi cédula.",
        "El profesor de Cálculo II no ha subido las notas del parcial.",
        "Quisiera cambiar de sección porque el horario coincide con mi trabajo.",
        "Me inscribí en la asignatura equivocada y necesito darme de baja.",
        "Gracias de antemano por su ayuda; quedo atenta a su respuesta.",
        "¿Es posible retirar el título en nombre de otra persona con un poder notarial?",
        "El correo institucional no me llega desde la semana pasada.",
        "Soy egresado de 2019 y necesito una copia certificada del récord de notas.",
        "La biblioteca me cobró una multa por un libro que ya devolví.",
        "Muchas gracias, ya pude resolverlo con la información que me enviaron.",
        "Disculpen la insistencia, pero sigo sin recibir respuesta sobre mi solicitud.",
    ),
    "en": (
        "Hello, I would like to request an official transcript for a graduate application.",
        "I cannot log in to the student portal; it says my account is locked.",
        "Could you tell me when the enrolment period for the next term opens?",
        "I paid the tuition fee by bank transfer but it still shows as unpaid.",
        "Which documents are needed to apply for the international exchange program?",
        "Please find attached the receipt and a copy of my passport.",
        "The grades for the midterm exam have not been published yet.",
        "I would like to switch sections because of a scheduling conflict.",
        "I registered for the wrong course and need to drop it.",
        "Thank you in advance for your help; I look forward to your reply.",
        "Is it possible for someone else to collect my diploma on my behalf?",
        "My university e-mail account has stopped receiving messages.",
        "I graduated in 2019 and need a certified copy of my academic record.",
        "Thanks, the problem is solved with the instructions you sent.",
    ),
}

_SUBJECTS = {
    "es": (
        "Solicitud de constancia de estudios",
        "Problema de acceso al campus virtual",
        "Consulta sobre inscripción",
        "Pago de matrícula pendiente",
        "Información sobre becas",
        "Cambio de sección",
        "Baja de asignatura",
        "Récord de notas certificado",
        "Multa de biblioteca",
        "Correo institucional sin recepción",
        "Retiro de título",
        "Calificaciones del parcial de Cálculo II",
    ),
    "en": (
        "Transcript request",
        "Cannot log in to the student portal",
        "Enrolment dates",
        "Tuition payment not registered",
        "Exchange program documents",
        "Section change",
        "Course drop request",
        "Certified academic record",
        "Diploma collection",
        "E-mail account not receiving",
    ),
}

_FIRST = (
    "María", "José", "Ana", "Luis", "Carmen", "Juan", "Lucía", "Pedro", "Sofía", "Andrés",
    "Valentina", "Miguel", "Isabel", "Ramón", "Emily", "James", "Olivia", "Noah",
)  # fmt: skip
_LAST = (
    "García", "Rodríguez", "Martínez", "Pérez", "Gómez", "Díaz", "Núñez", "Peña",
    "Jiménez", "Smith", "Johnson", "Brown", "Muñoz", "Castillo",
)  # fmt: skip
_DOMAINS = (
    "alumnos.uni.example", "mail.example.com", "correo.example.net", "example.org",
    "empresa.example", "outlook.example",
)  # fmt: skip
_ATTACHMENTS = (
    ("comprobante_pago.pdf", "application", "pdf"),
    ("cédula_escaneada.jpg", "image", "jpeg"),
    ("solicitud firmada.pdf", "application", "pdf"),
    ("IMG_20261120_101544.jpg", "image", "jpeg"),
    (
        "carta_de_recomendación.docx",
        "application",
        "vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
)
_BASE_DATE = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def plan(n: int, seed: int = 1) -> list[Spec]:
    """The first ``n`` messages of the mix for ``seed``; the same arguments, the same mail."""
    rng = random.Random(seed)
    run = f"{seed}x{rng.getrandbits(40):010x}"
    specs: list[Spec] = []
    requests: list[Spec] = []
    request_indexes: list[int] = []
    for i in range(n):
        eligible = bisect.bisect_right(request_indexes, i - REPLY_GAP)
        window = requests[max(0, eligible - REPLY_WINDOW) : eligible]
        roll = rng.random()
        body: Body = rng.choices(("plain", "alternative", "html"), (55, 30, 15))[0]
        attachment = _attachment(rng) if rng.random() < 0.12 else None
        charset: SubjectCharset = rng.choices(("utf-8-b", "utf-8-q", "iso-8859-1-q"), (5, 3, 2))[0]
        message_id = f"bench.{run}.{i}@{rng.choice(_DOMAINS)}"
        if roll < 0.33 and window:
            original = rng.choice(window)
            kind: Kind = "reply" if roll < 0.25 else "tag-reply"
            lang = original.language
            spec = Spec(
                index=i,
                kind=kind,
                queue=original.queue,
                language=lang,
                sender=original.sender,
                sender_name=original.sender_name,
                subject=original.subject,
                message_id=message_id,
                original=original.index,
                original_message_id=original.message_id,
                body=body,
                subject_charset=charset,
                attachment=attachment,
                sentences=_pick(rng, lang, 1, 3),
            )
        else:
            lang = "es" if rng.random() < 0.7 else "en"
            queue = QUEUES[0] if rng.random() < 0.75 else QUEUES[1]
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            local = _ascii(f"{first}.{last}").lower()
            spec = Spec(
                index=i,
                kind="new",
                queue=queue,
                language=lang,
                sender=f"{local}.{i}@{rng.choice(_DOMAINS)}",
                sender_name=f"{first} {last}",
                subject=rng.choice(_SUBJECTS[lang]),
                message_id=message_id,
                original=None,
                original_message_id=None,
                body=body,
                subject_charset=charset,
                attachment=attachment,
                sentences=_pick(rng, lang, 2, 7),
            )
            requests.append(spec)
            request_indexes.append(i)
        specs.append(spec)
    return specs


def predicted_tickets(specs: Sequence[Spec]) -> dict[int, int]:
    """Ticket number of each message when a fresh store takes them in order (IMAP)."""
    numbers: dict[int, int] = {}
    opened = 0
    for spec in specs:
        if spec.kind == "new":
            opened += 1
            numbers[spec.index] = opened
        else:
            assert spec.original is not None
            numbers[spec.index] = numbers[spec.original]
    return numbers


def with_ticket(raw: bytes, number: int | None) -> bytes:
    """``raw`` with its ticket number filled in (a new request has none to fill)."""
    return raw if number is None else raw.replace(TICKET_TOKEN, str(number).encode(), 1)


def render(spec: Spec) -> bytes:
    """The message as a mail client would send it (CRLF line ends)."""
    msg = EmailMessage()
    msg["From"] = formataddr((spec.sender_name, spec.sender))
    msg["To"] = spec.queue.address
    msg["Date"] = format_datetime(_BASE_DATE + timedelta(seconds=7 * spec.index))
    msg["Message-ID"] = f"<{spec.message_id}>"
    if spec.kind == "reply":
        msg["In-Reply-To"] = f"<{spec.original_message_id}>"
        msg["References"] = f"<{spec.original_message_id}>"
    text = _text(spec)
    if spec.body == "html":
        msg.set_content(_html(text), subtype="html")
    else:
        msg.set_content(text)
        if spec.body == "alternative":
            msg.add_alternative(_html(text), subtype="html")
    if spec.attachment is not None:
        a = spec.attachment
        data = random.Random(spec.index).randbytes(a.size)
        if a.subtype == "pdf":
            data = b"%PDF-1.4\n" + data
        msg.add_attachment(data, maintype=a.maintype, subtype=a.subtype, filename=a.filename)
    prefix = "" if spec.kind == "new" else f"Re: [{spec.queue.tag}#{TICKET_TOKEN.decode()}]"
    subject = _encode(prefix, spec.subject, spec.subject_charset)
    return b"Subject: " + subject + b"\r\n" + msg.as_bytes(policy=SMTP)


class Spool:
    """Rendered messages in one file under ``directory``, read back by index.

    Rendering takes about a millisecond a message; doing it before the clock starts keeps
    the client's work out of the daemon's figures without holding every message in memory.
    """

    def __init__(self, directory: Path, specs: Sequence[Spec]) -> None:
        self.specs = specs
        self.path = directory / "spool.bin"
        self._offsets = [0]
        with self.path.open("wb") as handle:
            for spec in specs:
                handle.write(render(spec))
                self._offsets.append(handle.tell())
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return len(self.specs)

    def raw(self, index: int, ticket: int | None = None) -> bytes:
        start, end = self._offsets[index], self._offsets[index + 1]
        data = os.pread(self._fd, end - start, start)
        return with_ticket(data, ticket if self.specs[index].needs_ticket else None)

    @property
    def total_bytes(self) -> int:
        return self._offsets[-1]

    def close(self) -> None:
        os.close(self._fd)


# -- helpers -----------------------------------------------------------------------------


def _pick(rng: random.Random, lang: str, low: int, high: int) -> tuple[int, ...]:
    count = len(_SENTENCES[lang])
    return tuple(rng.randrange(count) for _ in range(rng.randint(low, high)))


def _attachment(rng: random.Random) -> Attachment:
    filename, maintype, subtype = rng.choice(_ATTACHMENTS)
    size = int(math.exp(rng.uniform(math.log(4_000), math.log(200_000))))
    return Attachment(filename, maintype, subtype, size)


def _text(spec: Spec) -> str:
    sentences = _SENTENCES[spec.language]
    lines = [sentences[k] for k in spec.sentences]
    sign = f"\n\n{spec.sender_name}\n"
    if spec.kind == "new":
        return " ".join(lines) + sign
    said = (
        "Mesa de servicio escribió:" if spec.language == "es" else "Service desk wrote:"
    )  # a quoted acknowledgement, as clients include it
    quoted = "\n".join(
        f"> {line}"
        for line in (
            f"Recibimos su mensaje «{spec.subject}».",
            "",
            "Le responderemos dentro del horario de atención.",
        )
    )
    return " ".join(lines) + sign + f"\n{said}\n{quoted}\n"


def _html(text: str) -> str:
    paragraphs = "".join(
        f'<p class="MsoNormal" style="margin:0">{html.escape(p).replace(chr(10), "<br>")}</p>\n'
        for p in text.split("\n\n")
    )
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "<style>p.MsoNormal{font-family:Calibri,sans-serif;font-size:11pt}</style></head>\n"
        f'<body lang="ES"><div class="WordSection1">\n{paragraphs}</div></body></html>\n'
    )


def _encode(prefix: str, subject: str, charset: SubjectCharset) -> bytes:
    if subject.isascii():
        return f"{prefix} {subject}".strip().encode()
    chosen = Charset("iso-8859-1" if charset == "iso-8859-1-q" else "utf-8")
    if charset == "utf-8-q":
        chosen.header_encoding = QP
    header = Header(header_name="Subject")
    if prefix:
        header.append(prefix, "us-ascii")
    header.append(subject, chosen)
    # Header folds long encoded words with "\n "; mail on the wire folds with CRLF.
    return header.encode(maxlinelen=78).replace("\n", "\r\n").encode("ascii")


def _ascii(text: str) -> str:
    table = str.maketrans("áéíóúñüÁÉÍÓÚÑÜ", "aeiounuAEIOUNU")
    return text.translate(table)
