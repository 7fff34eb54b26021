"""Yinxin (印信): electronic certification and electronic seal platform."""

import warnings

__version__ = "0.1.0"

# RFC 5280 bounds a CN or an O at 64 characters; cryptography counts UTF-8 bytes and warns, on
# every parse, of a Chinese name over 21 characters — which the platform issues (checked in
# characters, registry.certificates.subject_for) and relying parties' CAs do too. Said once
# here, not on every certificate read anywhere.
warnings.filterwarnings("ignore", message="Attribute's length must be", category=UserWarning)

# cryptography 51 deprecates DSA and warns on importing its DSA module, which pyHanko's signer
# imports at its top: every signing or verifying command printed the warning and its source
# line on stderr before its own answer (the first line was no longer the error line). The
# platform makes no DSA key (pki.algorithms); this one message is hidden, nothing else.
warnings.filterwarnings("ignore", message="DSA is deprecated", category=UserWarning)
