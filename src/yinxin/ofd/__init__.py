"""OFD documents (GB/T 33190-2016): read, sign with a seal, verify, draw a page.

    package   the ZIP of parts, read with limits, written back byte for byte
    document  pages, sizes, text runs, anchor search
    make      a plain OFD from lines of text (tests, samples)
    sign      one seal signature more: Seal.esl, Signatures.xml, Signature.xml, SignedValue.dat
    verify    file digests, signature values (by a checker handed in), unprotected files
    render    a page as PNG with the stamps drawn

Same layer as ``yinxin.pdf``: no database, no platform; the GB/T 38540 signature value is made
and judged by ``yinxin.seals.ses_signature`` through the small protocols of ``sign`` and
``verify``.
"""
