"""One platform operation in a process of its own, to be killed with SIGKILL at a random moment.

``python -m tests.stress.crash_worker HOME VERB JSON`` builds the platform from the data
directory as the CLI does (system clock, the CA passphrase from the environment) and performs
one verb the way its CLI command does, output file included. The harness kills it part-way.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from yinxin.results import plain


def main(home: str, verb: str, args: dict) -> dict:
    from yinxin.app import Platform
    from yinxin.pdf.sign import Placement
    from yinxin.settings import Settings

    p = Platform(Settings.from_env(home=home), passphrase=os.environ["YINXIN_CA_PASSPHRASE"])
    if verb == "init":
        return p.ca.init("ec-p256")
    if verb == "approve":
        return p.certificates.approve(args["application_id"], officer="受理员 陈静")
    if verb == "seal_create":
        return p.seals.create(
            subscriber_id=args["subscriber_id"],
            kind=args["kind"],
            certificate_serial=args["serial"],
            form=args["form"],
        )
    if verb == "sign":
        signed = p.signing.sign(
            Path(args["in"]).read_bytes(),
            seal=args["seal"],
            pin=args["pin"],
            signer_subscriber_id=args["signer"],
            challenge_id=args["challenge"],
            code=args["code"],
            placement=Placement(anchor=args["anchor"]),
            role=args["role"],
        )
        out = Path(args["out"])
        tmp = out.with_name(out.name + ".part")
        tmp.write_bytes(signed.pdf)
        os.replace(tmp, out)
        return signed.record
    if verb == "revoke":
        return p.certificates.revoke(args["serial"], reason="key_compromise", actor="t")
    raise SystemExit(f"unknown verb {verb}")


if __name__ == "__main__":
    result = main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
    print(json.dumps(plain(result), ensure_ascii=False, default=str))
