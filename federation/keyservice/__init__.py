"""The token key service: an RFC 9497 verifiable oblivious PRF, so no force can make
tokens offline (KEYSERVICE.md, issue #15).

    x     = "crossforce/v1|" + kind + "|" + normalised value     (suite.prf_input)
    r, B  = Blind(x)                          node            (suite.blind)
    Z, π  = BlindEvaluate(k_epoch, B)         key service     (suite.Evaluator)
    y     = Finalize(x, r, Z) after checking π against pk_epoch (suite.finalize)
    token = HMAC-SHA256(y, "token|" + purpose + "|" + epoch)[:16]  (suite.token_sql)

``oprf`` is the reference implementation (libsodium, RFC vectors); ``suite`` the fast one
(the ``voprf`` Rust wheel) behind our own interface; ``store``, ``service`` and ``cli`` the
service; ``client`` what a node runs.
"""
