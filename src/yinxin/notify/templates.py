"""Message templates per scenario, kept as data so new scenarios and wordings plug in.

Chinese comes first; an English wording is given where a message may reach someone who reads
English (e-mail). SMS bodies start with the 【印信】 signature because mainland SMS carriers
refuse unsigned messages. A template names the values that are secret (the one-time code): the
send log stores the message rendered with those masked, so the code never reaches the database.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from yinxin.errors import NotFound, ValidationError

LANGS = ("zh", "en", "zh-en")
MASK = "******"


@dataclass(frozen=True)
class Wording:
    subject: str
    body: str


@dataclass(frozen=True)
class Template:
    id: str
    description: str
    zh: Wording
    en: Wording | None = None
    secret: tuple[str, ...] = ()
    fields: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names: list[str] = []
        for w in (self.zh, self.en):
            if w is None:
                continue
            for text in (w.subject, w.body):
                for _lit, name, _spec, _conv in string.Formatter().parse(text):
                    if name is None:
                        continue
                    # Only plain names: "{x.attr}" or "{x[0]}" would let a plugged-in template
                    # reach into the objects it is given.
                    if not name.isidentifier():
                        raise ValueError(f"template {self.id}: field {name!r} is not a plain name")
                    if name not in names:
                        names.append(name)
        object.__setattr__(self, "fields", tuple(names))

    def render(self, values: Mapping[str, object], lang: str = "zh") -> tuple[str, str]:
        if lang not in LANGS:
            raise ValidationError(f"language must be one of {', '.join(LANGS)}", field="lang")
        for name in self.fields:
            v = values.get(name)
            if v is None or (isinstance(v, str) and not v.strip()):
                raise ValidationError(f"template {self.id} needs a value for {name}", field=name)
        vals = {k: str(values[k]) for k in self.fields}
        zh = Wording(self.zh.subject.format(**vals), self.zh.body.format(**vals))
        if lang == "zh" or self.en is None:
            return zh.subject, zh.body
        en = Wording(self.en.subject.format(**vals), self.en.body.format(**vals))
        if lang == "en":
            return en.subject, en.body
        return f"{zh.subject} / {en.subject}", f"{zh.body}\n\n{en.body}"

    def render_masked(self, values: Mapping[str, object], lang: str = "zh") -> tuple[str, str]:
        """The form that may be stored: every secret value replaced by a mask."""
        return self.render({**values, **{k: MASK for k in self.secret}}, lang)

    def public_values(self, values: Mapping[str, object]) -> dict[str, object]:
        return {k: v for k, v in values.items() if k not in self.secret}


class TemplateLibrary:
    def __init__(self, templates: Iterable[Template] = ()):
        self._by_id: dict[str, Template] = {}
        for t in templates:
            self.register(t)

    def register(self, template: Template, *, replace: bool = False) -> None:
        if template.id in self._by_id and not replace:
            raise ValueError(f"template {template.id} is already registered")
        self._by_id[template.id] = template

    def get(self, template_id: str) -> Template:
        try:
            return self._by_id[template_id]
        except KeyError:
            raise NotFound(f"no message template {template_id!r}", field="template_id") from None

    def ids(self) -> list[str]:
        return sorted(self._by_id)

    def render(self, template_id: str, /, *, lang: str = "zh", **values: object) -> tuple[str, str]:
        return self.get(template_id).render(values, lang)


APPLICATION_RECEIVED = "application_received"
CERTIFICATE_ISSUED = "certificate_issued"
CERTIFICATE_EXPIRING = "certificate_expiring"
CERTIFICATE_REVOKED = "certificate_revoked"
CERTIFICATE_FROZEN = "certificate_frozen"
SEAL_CREATED = "seal_created"
SEAL_FROZEN = "seal_frozen"
SIGNATURE_REQUESTED = "signature_requested"
ONE_TIME_CODE = "one_time_code"
SIGN_REQUEST = "sign_request"
SIGN_URGE = "sign_urge"
FLOW_COMPLETED = "flow_completed"

DEFAULT_TEMPLATES: tuple[Template, ...] = (
    Template(
        APPLICATION_RECEIVED,
        "证书申请已受理 — an application was accepted for review",
        Wording(
            "证书申请已受理",
            "【印信】{name}，您的数字证书申请（受理号 {application_id}）已受理，"
            "审核完成后将另行通知。",
        ),
        Wording(
            "Certificate application received",
            "{name}, your certificate application (no. {application_id}) has been received "
            "and will be reviewed; we will let you know the outcome.",
        ),
    ),
    Template(
        CERTIFICATE_ISSUED,
        "证书已签发 — a certificate was issued",
        Wording(
            "数字证书已签发",
            "【印信】{name}，您的数字证书（序列号 {serial}）已签发，有效期至 {not_after}。",
        ),
        Wording(
            "Certificate issued",
            "{name}, your certificate (serial {serial}) has been issued and is valid until "
            "{not_after}.",
        ),
    ),
    Template(
        CERTIFICATE_EXPIRING,
        "证书即将到期的更新提示 — renewal notice before expiry (001 §二.6)",
        Wording(
            "数字证书即将到期",
            "【印信】{name}，您的数字证书（序列号 {serial}）将于 {not_after} 到期（剩余 {days} "
            "天），请在到期前办理证书更新，以免影响使用。",
        ),
        Wording(
            "Your certificate expires soon",
            "{name}, your certificate (serial {serial}) expires on {not_after} (in {days} "
            "days). Please renew it before then to keep using it.",
        ),
    ),
    Template(
        CERTIFICATE_REVOKED,
        "证书已撤销 — a certificate was revoked",
        Wording(
            "数字证书已撤销",
            "【印信】{name}，您的数字证书（序列号 {serial}）已于 {at} 撤销，原因：{reason}。"
            "如非本人操作，请立即联系我们。",
        ),
        Wording(
            "Certificate revoked",
            "{name}, your certificate (serial {serial}) was revoked at {at}; reason: "
            "{reason}. If you did not ask for this, contact us at once.",
        ),
    ),
    Template(
        CERTIFICATE_FROZEN,
        "证书已冻结 — a certificate was put on hold",
        Wording(
            "数字证书已冻结",
            "【印信】{name}，您的数字证书（序列号 {serial}）已于 {at} 冻结，冻结期间不能用于"
            "签名。如非本人操作，请立即联系我们。",
        ),
        Wording(
            "Certificate on hold",
            "{name}, your certificate (serial {serial}) was put on hold at {at} and cannot "
            "sign until it is released. If you did not ask for this, contact us at once.",
        ),
    ),
    Template(
        SEAL_CREATED,
        "电子印章已制作 — an electronic seal was made",
        Wording("电子印章已制作", "【印信】{name}，电子印章「{seal_name}」已制作完成并可使用。"),
        Wording(
            "Electronic seal created",
            '{name}, the electronic seal "{seal_name}" has been made and is ready to use.',
        ),
    ),
    Template(
        SEAL_FROZEN,
        "电子印章已冻结 — an electronic seal was frozen",
        Wording(
            "电子印章已冻结",
            "【印信】{name}，电子印章「{seal_name}」已于 {at} 冻结，冻结期间不能用于签章。"
            "如非本单位操作，请立即联系我们。",
        ),
        Wording(
            "Electronic seal frozen",
            '{name}, the electronic seal "{seal_name}" was frozen at {at} and cannot be '
            "used until it is released. If you did not ask for this, contact us at once.",
        ),
    ),
    Template(
        SIGNATURE_REQUESTED,
        "待签署提醒 — someone asks the recipient to sign a document",
        Wording(
            "您有一份文件待签署",
            "【印信】{name}，{requester} 邀请您签署《{document}》，请登录 {url} 查看并签署。",
        ),
        Wording(
            "A document awaits your signature",
            '{name}, {requester} asks you to sign "{document}". Open {url} to read and sign it.',
        ),
    ),
    Template(
        ONE_TIME_CODE,
        "签署意愿认证验证码 — one-time code confirming the intent to sign",
        Wording(
            "印信验证码",
            "【印信】您的验证码为 {code}，{minutes} 分钟内有效，用于签署《{document}》。请勿泄露。",
        ),
        Wording(
            "Yinxin verification code",
            'Your code is {code}, valid for {minutes} minutes, to sign "{document}". '
            "Do not share it.",
        ),
        secret=("code",),
    ),
    # The signing link is a bearer secret (its token opens one signer's turn in a sign flow):
    # it is masked in the send log like a code, and such messages are sent, never queued.
    Template(
        SIGN_REQUEST,
        "签署流程邀请 — a sign flow asks the recipient to sign (with their signing link)",
        Wording(
            "您有一份文件待签署",
            "【印信】{name}，您有待签署的文件《{title}》（{documents} 份），请于 {deadline} 前"
            "打开 {url} 签署。",
        ),
        Wording(
            "Documents await your signature",
            '{name}, "{title}" ({documents} document(s)) awaits your signature. Open {url} '
            "to sign before {deadline}.",
        ),
        secret=("url",),
    ),
    Template(
        SIGN_URGE,
        "催签提醒 — a reminder to sign in a sign flow",
        Wording(
            "催签提醒",
            "【印信】{name}，《{title}》尚待您签署，截止时间 {deadline}，请尽快打开 {url} 签署。",
        ),
        Wording(
            "Reminder: please sign",
            '{name}, "{title}" still awaits your signature (deadline {deadline}). Open {url} '
            "to sign.",
        ),
        secret=("url",),
    ),
    Template(
        FLOW_COMPLETED,
        "签署流程已完成 — every party of a sign flow has signed",
        Wording(
            "文件已签署完成",
            "【印信】{name}，《{title}》已由全部 {signers} 方签署完成（流程 {flow_id}）。",
        ),
        Wording(
            "Signing completed",
            '{name}, all {signers} parties have signed "{title}" (flow {flow_id}).',
        ),
    ),
)

default_library = TemplateLibrary(DEFAULT_TEMPLATES)


def render(template_id: str, /, *, lang: str = "zh", **values: object) -> tuple[str, str]:
    """(subject, body) from the default library; a missing value names its field."""
    return default_library.render(template_id, lang=lang, **values)
