"""The SESeal ``type`` codes, apart from the record's ASN.1 (``seals.seseal``).

GB/T 38540-2020 leaves ``type`` to the application ("可根据业务需要自定义"); these are the values
GM/T 0031-2014 (v1) named, which readers in the field still display. The seal catalogue names
them for each kind of seal; kept here so that reading the catalogue (a seal listing does)
loads neither asn1crypto nor ``cryptography``, which the record's codec needs.
"""

from __future__ import annotations

SEAL_TYPE_ORGANIZATION = 1  # 单位印章
SEAL_TYPE_PERSONAL = 2  # 个人印章
