"""A direct check of the usual certificate path in a batch, proven equal to pyHanko's or not used.

In an archive from one CA every signature's path is the same three certificates — trust
anchor, issuing CA, a leaf (signer or TSA) — and pyHanko's path validation
(``intl_validate_path``) repeats for every file the steps about the anchor and the CA that
cannot come out differently, then checks the leaf's OCSP response and the CA's CRL through
generic machinery. While a :class:`yinxin.pdf.batch.Verifier` runs (``learning`` below), this
module stands in front of ``pyhanko_certvalidator.async_validate_path`` (what
``find_valid_path`` calls for the signer's and the timestamp's certificate):

* after pyHanko validates a path *anchor → CA → leaf* successfully, the pair (anchor, CA) is
  **learned**, with the qualified policies the run produced;
* for a later path through a learned pair, :func:`_direct` replays what ``intl_validate_path``
  does on success, with pyHanko's own helper functions for each check, and stops at the first
  one that does not come out the way a success needs;
* if everything holds it records what pyHanko records and returns as pyHanko returns; on the
  first doubt it returns ``False`` having changed nothing, and pyHanko's full validation runs.

What the learned run proves for the next path, and why only that: everything the CA's step
depends on except the moment and the revocation data — its issuer name against the anchor's,
name constraints, policy processing, ``basicConstraints``/path length/key usage
(``_prepare_next_step``), unsupported critical extensions — is a function of the anchor
certificate, the CA certificate and the (absent) PKIX parameters alone. The rest is checked
again for every path, at that path's moment, in that path's context: the CA's signature and
algorithm (the signature memo makes this a lookup), the CA's validity, the CA's CRL, and the
whole leaf step. Preconditions keep the replay to the code paths read here: no policy or name
constraint extensions, no PKIX parameters, anchors without qualifiers, the legacy soft-fail
revocation rule, no fetching, exactly one complete, direct CRL without delta or critical
extensions, the leaf's status from an OCSP response whose responder pyHanko's own checks accept.
A revoked or unknown status, a stale response, a signature that does not verify, another
responder or another CA: pyHanko decides, and reports what it reports.

``tests/integration/test_pdf_batch.py`` holds the files that must take the fallback (revoked,
another responder, expired, forged leaf, tampered timestamp, a second CA, a late ``--at``) and
compares every report of an archive with the shortcut on and off.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyhanko_certvalidator as _pcv
from asn1crypto import x509 as a_x509
from pyhanko_certvalidator._state import ValProcState
from pyhanko_certvalidator.authority import AuthorityWithCert
from pyhanko_certvalidator.name_trees import (
    ExcludedSubtrees,
    PermittedSubtrees,
    default_excluded_subtrees,
    default_permitted_subtrees,
)
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import RevocationCheckingRule
from pyhanko_certvalidator.revinfo import validate_crl as _vcrl
from pyhanko_certvalidator.revinfo import validate_ocsp as _vocsp
from pyhanko_certvalidator.revinfo.archival import RevinfoUsabilityRating
from pyhanko_certvalidator.util import ConsList, get_declared_revinfo
from pyhanko_certvalidator.validate import (
    SUPPORTED_EXTENSIONS,
    _check_validity,
)

from yinxin.pdf.accel import der, remembered

_orig_validate_path = _pcv.async_validate_path
_SOFT = RevocationCheckingRule.CHECK_IF_DECLARED_SOFT
# extensions whose presence sends a path to pyHanko: policy processing and name constraints
_POLICY_EXTENSIONS = (
    "certificate_policies_value",
    "policy_mappings_value",
    "policy_constraints_value",
    "inhibit_any_policy_value",
)


@dataclass
class Learned:
    """(anchor DER, CA DER) → qualified policies of a path pyHanko validated; and counters."""

    prefixes: dict[tuple[bytes, bytes], Any] = field(default_factory=dict)
    direct: int = 0  # paths decided here
    fallback: int = 0  # paths handed to pyHanko
    # leaf certificate (SHA-256 of its DER) → for each of its paths, was it decided here
    decided: dict[bytes, list[bool]] = field(default_factory=dict)

    def note(self, leaf: Any, direct: bool) -> None:
        if direct:
            self.direct += 1
        else:
            self.fallback += 1
        try:
            if len(self.decided) >= 10_000:
                self.decided.clear()
            self.decided.setdefault(leaf.sha256, []).append(direct)
        except Exception:
            pass


_LEARNED: contextvars.ContextVar[Learned | None] = contextvars.ContextVar(
    "yinxin_direct_paths", default=None
)


@contextlib.contextmanager
def learning(learned: Learned | None) -> Iterator[None]:
    """Use (and fill) ``learned`` for the paths validated inside; ``None`` switches it off."""
    token = _LEARNED.set(learned)
    try:
        yield
    finally:
        _LEARNED.reset(token)


async def _validate_path(validation_context, path, parameters=None):
    learned = _LEARNED.get()
    if learned is None:
        return await _orig_validate_path(validation_context, path, parameters)
    key = _shape(path, parameters)
    if key is not None and key in learned.prefixes:
        try:
            ok = await _direct(validation_context, path, learned.prefixes[key])
        except Exception:  # any doubt: pyHanko decides
            ok = False
        if ok:
            learned.note(path.leaf, True)
            return path.leaf
    learned.note(path.leaf, False)
    result = await _orig_validate_path(validation_context, path, parameters)
    if key is not None and not _has_policy_extensions(path.leaf):
        learned.prefixes[key] = path.qualified_policies()
    return result


def _shape(path: ValidationPath, parameters: Any) -> tuple[bytes, bytes] | None:
    """(anchor DER, CA DER) for a path this module can replay, else ``None``."""
    try:
        if parameters is not None or path.pkix_len != 2:
            return None
        anchor = path.trust_anchor
        authority = anchor.authority
        leaf = path.leaf
        if not isinstance(authority, AuthorityWithCert) or not isinstance(leaf, a_x509.Certificate):
            return None
        q = anchor.trust_qualifiers
        if (
            q.valid_from is not None
            or q.valid_until is not None
            or q.max_path_length is not None
            or q.max_aa_path_length is not None
            or q.standard_parameters is not None
        ):
            return None
        ca = path[1]
        for cert in (authority.certificate, ca):
            if cert.name_constraints_value is not None or _has_policy_extensions(cert):
                return None
        if ca.public_key.algorithm == "dsa":  # DSA parameter inheritance: not replayed
            return None
        return der(authority.certificate), der(ca)
    except Exception:
        return None


def _has_policy_extensions(cert: a_x509.Certificate) -> bool:
    return any(getattr(cert, name) is not None for name in _POLICY_EXTENSIONS)


async def _direct(vc, path: ValidationPath, qualified_policies: Any) -> bool:
    """Replay ``intl_validate_path`` for a path through a learned (anchor, CA); ``True`` only
    if pyHanko would succeed, with its records made; ``False`` with nothing changed."""
    anchor = path.trust_anchor
    root = anchor.authority.certificate
    ca, leaf = path[1], path.leaf
    moment = vc.moment
    manager = vc.revinfo_manager
    rules = vc.revinfo_policy.revocation_checking_policy
    if (
        _has_policy_extensions(leaf)
        or leaf.critical_extensions - SUPPORTED_EXTENSIONS
        or rules.ee_certificate_rule is not _SOFT
        or rules.intermediate_ca_cert_rule is not _SOFT
        or manager.fetching_allowed
        or manager.check_asserted_unrevoked(leaf, moment)
        or manager.check_asserted_unrevoked(ca, moment)
    ):
        return False
    proc_state = ValProcState(cert_path_stack=ConsList.sing(path))

    # the CA's step at this moment: signature, validity, revocation (the rest was learned)
    proc_state.index = 1
    if not _signature_ok(vc, ca, root.public_key):
        return False
    _check_validity(ca["tbs_certificate"]["validity"], moment, vc.time_tolerance, proc_state)
    crl_issuer = await _ca_not_revoked(vc, path, ca, proc_state)
    if crl_issuer is False:
        return False

    # the leaf's step
    proc_state.index = 2
    if not _signature_ok(vc, leaf, ca.public_key):
        return False
    _check_validity(leaf["tbs_certificate"]["validity"], moment, vc.time_tolerance, proc_state)
    if leaf.issuer != ca.subject:
        return False
    if not _names_allowed(leaf):
        return False
    if not await _leaf_not_revoked(vc, path, leaf, proc_state):
        return False

    # success: what intl_validate_path records on the way
    completed = ValidationPath(anchor, interm=[], leaf=None)
    vc.record_validation(root, completed)
    if crl_issuer is not None:
        manager.record_crl_issuer(*crl_issuer)
    completed = completed.copy_and_append(ca)
    vc.record_validation(ca, completed)
    completed = completed.copy_and_append(leaf)
    vc.record_validation(leaf, completed)
    path._set_qualified_policies(qualified_policies)
    completed._set_qualified_policies(qualified_policies)
    return True


def _names_allowed(leaf: a_x509.Certificate) -> bool:
    """``_PathValidationState.check_name_constraints`` for the leaf, as a yes/no. Neither the
    anchor nor the CA declares name constraints and there are no PKIX parameters (``_shape``),
    so the state ``init_pkix_validation_state`` would build holds the default trees: everything
    permitted, nothing excluded. Those trees are only read (``accept_cert``), so one pair
    serves every path instead of a new state per path."""
    permitted, excluded = _default_trees()
    return bool(permitted.accept_cert(leaf)) and bool(excluded.accept_cert(leaf))


@functools.cache
def _default_trees() -> tuple[PermittedSubtrees, ExcludedSubtrees]:
    return (
        PermittedSubtrees(default_permitted_subtrees()),
        ExcludedSubtrees(default_excluded_subtrees()),
    )


def _signature_ok(vc, cert: a_x509.Certificate, issuer_key) -> bool:
    """``_PathValidationState.check_certificate_signature``, as a yes/no."""
    algo = cert["signature_algorithm"]
    if not vc.algorithm_policy.signature_algorithm_allowed(
        algo, vc.best_signature_time, public_key=issuer_key
    ):
        return False
    vc.sig_validator.validate_signature(
        signature=cert["signature_value"].native,
        signed_data=der(cert["tbs_certificate"]),
        public_key_info=issuer_key,
        signature_algorithm=algo,
    )
    return True


async def _ca_not_revoked(vc, path, ca, proc_state):
    """``_check_revocation`` for the CA under the soft-fail rule: ``None`` if it declares no
    status source (nothing checked), ``(crl, issuer)`` to record if its one CRL clears it,
    ``False`` for anything else."""
    has_crl, has_ocsp = get_declared_revinfo(ca)
    if has_ocsp:
        return False
    if not has_crl:
        return None
    conts = vc.revinfo_manager.currently_available_crls()
    if len(conts) != 1:
        return False
    cont = conts[0]
    crl = cont.crl_data
    crl.issuer.hashable  # noqa: B018 — what _classify_relevant_crls reads (and may fail on)
    issuer_auth = path.find_issuing_authority(ca)
    root = issuer_auth.certificate
    known = vc.revinfo_manager.check_crl_issuer(crl)
    if known is not None and der(known) != der(root):
        return False
    if known is None:
        # _find_crl_issuer: the one candidate must be the anchor itself, which needs no path
        # validation (it is recorded as validated first thing), and must have signed the CRL
        candidates = await _vcrl._find_candidate_crl_issuer_certs(
            crl, cert_issuer_auth=issuer_auth, cert_registry=vc.certificate_registry
        )
        if len(candidates) != 1 or der(candidates[0]) != der(root):
            return False
        key_usage = root.key_usage_value
        if key_usage and "crl_sign" not in key_usage.native:
            return False
        # the candidate's path (truncate_to_issuer_and_append) is the bare anchor, whose
        # ``last`` is the anchor's own certificate object: that is the issuer pyHanko records
        if root.self_signed != "maybe" or not issuer_auth.is_potential_issuer_of(root):
            return False
        if not remembered(crl, "signed", (root,), lambda: _signed_by(crl, root, vc.sig_validator)):
            return False
        issuer = root
    else:
        issuer = known
    if not remembered(crl, "clears", (ca, issuer), lambda: _clears(cont, ca, issuer)):
        return False
    errs = _vcrl._CRLErrs()
    if not _vcrl._check_crl_freshness(
        cont, vc.revinfo_policy, vc.timing_params, errs, is_delta=False
    ):
        return False
    return (crl, issuer) if known is None else None


def _signed_by(crl, root, sig_validator) -> bool:
    _vcrl._verify_crl_signature(crl, root.public_key, sig_validator)
    return True


def _clears(cont, ca, issuer) -> bool:
    """The CRL (complete, direct, no critical extension) covers the CA for every reason and
    does not list it: what ``_check_revocation`` reads of the CRL besides its freshness."""
    crl = cont.crl_data
    if (
        crl.delta_crl_indicator_value is not None
        or crl.issuing_distribution_point_value is not None
        or crl.freshest_crl_value is not None
        or crl.critical_extensions
    ):
        return False
    errs = _vcrl._CRLErrs()
    reasons = _vcrl._get_crl_scope_assuming_authority(
        crl_issuer=issuer, cert=ca, certificate_list_cont=cont, is_indirect=False, errs=errs
    )
    if reasons is None or reasons - {"unused"} != _vcrl.VALID_REVOCATION_REASONS:
        return False
    revoked_date, revoked_reason = _vcrl._check_cert_on_crl_and_delta(
        crl_issuer=issuer,
        cert=ca,
        certificate_list_cont=cont,
        delta_certificate_list_cont=None,
        errs=errs,
    )
    return revoked_reason is None and revoked_date is None


async def _leaf_not_revoked(vc, path, leaf, proc_state) -> bool:
    """``_check_revocation`` for the leaf under the soft-fail rule, when an OCSP response
    clears it: the first response pyHanko would accept is this one, it is fresh, signed by
    a responder pyHanko's own checks authorise, and says "good"."""
    has_crl, has_ocsp = get_declared_revinfo(leaf)
    if not has_ocsp:
        return not has_crl  # no status source declared: nothing is checked
    issuer = path.find_issuing_authority(leaf)
    responses = await vc.revinfo_manager.async_retrieve_ocsps(leaf, issuer)
    for resp in responses:
        errs = _vocsp._OCSPErrs()
        if not _vocsp._match_ocsp_certid(leaf, issuer=issuer, ocsp_response=resp, errs=errs):
            continue  # pyHanko moves on to the next response too, having changed nothing
        responder = _vocsp._identify_responder_cert(resp, vc.certificate_registry, errs)
        if responder is None:
            return False
        usable = resp.usable_at(policy=vc.revinfo_policy, timing_params=vc.timing_params)
        if usable.rating != RevinfoUsabilityRating.OK:
            return False
        if not _vocsp._verify_ocsp_signature(responder.public_key, resp, vc.sig_validator, errs):
            return False
        single = resp.extract_single_response()
        if single is None or single["cert_status"].name != "good":
            return False
        simple = _vocsp._precheck_ocsp_responder_auth(responder, issuer, True)
        if simple is False:
            return False
        if simple is None:
            # delegated responder: pyHanko's check (remembered per batch by verify.py); it
            # records the responder's chain only on success, and nothing fails after it
            try:
                await _vocsp._validate_delegated_ocsp_provenance(
                    responder_cert=responder,
                    issuer=issuer,
                    validation_context=vc,
                    ee_path=path,
                    proc_state=proc_state,
                )
            except Exception:
                return False
        return True
    return False


def install() -> None:
    """``find_valid_path`` looks ``async_validate_path`` up in its module at call time."""
    if _pcv.async_validate_path is not _validate_path:
        _pcv.async_validate_path = _validate_path


install()

__all__ = ["Learned", "learning"]
