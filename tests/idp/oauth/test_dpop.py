"""DPoP proof checks (`idp.oauth.dpop`, RFC 9449 §4.3) and server nonces (§8), on the in-process
store and Redis. Proofs are made with joserfc, as a client would."""

from __future__ import annotations

import secrets
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from idp.errors import InvalidDpopProof, UseDpopNonce
from idp.oauth.dpop import DpopVerifier, normalized_uri
from idp.storage.store import MemoryStore, Store
from tests.idp.oauth.dpop_proofs import new_key, proof, unsigned

TOKEN_URL = "https://idp.test/token"
NONCE_KEY = secrets.token_bytes(32)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def verifier(store: Store, clock: Clock | None = None, *, require_nonce: bool = False) -> DpopVerifier:
    return DpopVerifier(store, nonce_key=NONCE_KEY, max_age=60, require_nonce=require_nonce, nonce_lifetime=300,
                        clock=clock or time.time)


def test_a_valid_proof_gives_its_keys_rfc7638_thumbprint(store: Store) -> None:
    key = new_key()
    checked = verifier(store).check([proof(key, "POST", TOKEN_URL)], method="POST", uri=TOKEN_URL)
    assert checked.jkt == key.thumbprint()


def test_each_proof_is_accepted_once_by_every_worker(store: Store) -> None:
    key = new_key()
    one = proof(key, "POST", TOKEN_URL)
    verifier(store).check([one], method="POST", uri=TOKEN_URL)
    with pytest.raises(InvalidDpopProof, match="already used"):
        verifier(store).check([one], method="POST", uri=TOKEN_URL)  # another worker, the same store
    # The same jti from another key is another proof.
    verifier(store).check([proof(new_key(), "POST", TOKEN_URL, jti=jwt.decode(one, key).claims["jti"])],
                          method="POST", uri=TOKEN_URL)


@pytest.mark.parametrize("htu", ["https://idp.test/token?x=1#f", "HTTPS://IDP.test:443/token", "https://idp.test/%74oken",
                                 "https://idp.test/a/../token"])
def test_htu_is_compared_after_normalisation_without_query_and_fragment(htu: str) -> None:
    verifier(MemoryStore()).check([proof(new_key(), "POST", htu)], method="POST", uri=TOKEN_URL)


@pytest.mark.parametrize("htu", ["https://idp.test/token/", "http://idp.test/token", "https://idp.test:8443/token",
                                 "https://evil.example/token", "https://idp.test/userinfo", "/token", "idp.test/token",
                                 "https://user@idp.test/token", "https://idp.test/%2Ftoken", "https://[::1/token"])
def test_a_proof_for_another_url_is_refused(htu: str) -> None:
    with pytest.raises(InvalidDpopProof, match="htu"):
        verifier(MemoryStore()).check([proof(new_key(), "POST", htu)], method="POST", uri=TOKEN_URL)


def test_normalisation_keeps_what_distinguishes_resources() -> None:
    assert normalized_uri("https://IDP.test:443") == "https://idp.test/"
    assert normalized_uri("http://idp.test:80/a/./b/%7euser") == "http://idp.test/a/b/~user"
    assert normalized_uri("https://idp.test/a%2fb") == "https://idp.test/a%2Fb"
    assert normalized_uri("https://[::1]:8443/x") == "https://[::1]:8443/x"
    assert normalized_uri("ftp://idp.test/x") is None


def test_a_proof_for_another_method_is_refused() -> None:
    with pytest.raises(InvalidDpopProof, match="htm"):
        verifier(MemoryStore()).check([proof(new_key(), "GET", TOKEN_URL)], method="POST", uri=TOKEN_URL)


def test_iat_must_be_recent_and_not_in_the_future() -> None:
    clock = Clock()
    check = verifier(MemoryStore(), clock)
    key = new_key()
    for iat in (clock.now - 61, clock.now + 11):
        with pytest.raises(InvalidDpopProof, match="iat"):
            check.check([proof(key, "POST", TOKEN_URL, iat=int(iat))], method="POST", uri=TOKEN_URL)
    for iat in (clock.now - 59, clock.now + 5):  # within the window, and a small skew
        check.check([proof(key, "POST", TOKEN_URL, iat=int(iat))], method="POST", uri=TOKEN_URL)
    with pytest.raises(InvalidDpopProof, match="iat"):
        check.check([proof(key, "POST", TOKEN_URL, iat="now")], method="POST", uri=TOKEN_URL)


def test_only_es256_and_ps256_with_a_public_key_in_the_header() -> None:
    check = verifier(MemoryStore())
    key = new_key()
    rsa = RSAKey.generate_key(2048)
    checked = check.check([proof(rsa, "POST", TOKEN_URL, alg="PS256")], method="POST", uri=TOKEN_URL)
    assert checked.jkt == rsa.thumbprint()
    claims = {"jti": "x", "htm": "POST", "htu": TOKEN_URL, "iat": int(time.time())}
    oct_key = OctKey.generate_key(256)
    refused = {
        "none": unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": key.as_dict(private=False)}, claims),
        "HS256": jwt.encode({"typ": "dpop+jwt", "alg": "HS256", "jwk": oct_key.as_dict()}, claims, oct_key),
        "RS256": proof(rsa, "POST", TOKEN_URL, alg="RS256"),
        "typ": proof(key, "POST", TOKEN_URL, header={"typ": "JWT"}),
        "private": proof(key, "POST", TOKEN_URL, header={"jwk": key.as_dict(private=True)}),
        "no jwk": proof(key, "POST", TOKEN_URL, header={"jwk": None}),
        "wrong kind": proof(key, "POST", TOKEN_URL, alg="ES256", header={"jwk": rsa.as_dict(private=False)}),
        "another key": proof(key, "POST", TOKEN_URL, header={"jwk": new_key().as_dict(private=False)}),
        "small rsa": proof(RSAKey.generate_key(1024, private=True), "POST", TOKEN_URL, alg="PS256"),
    }
    for name, value in refused.items():
        with pytest.raises(InvalidDpopProof):
            check.check([value], method="POST", uri=TOKEN_URL)
            pytest.fail(name)


def test_exactly_one_proof_and_each_claim_required() -> None:
    check = verifier(MemoryStore())
    key = new_key()
    with pytest.raises(InvalidDpopProof, match="required"):
        check.check([], method="POST", uri=TOKEN_URL)
    with pytest.raises(InvalidDpopProof, match="exactly one"):
        check.check([proof(key, "POST", TOKEN_URL), proof(key, "POST", TOKEN_URL)], method="POST", uri=TOKEN_URL)
    for claim in ("jti", "htm", "htu", "iat"):
        with pytest.raises(InvalidDpopProof):
            check.check([proof(key, "POST", TOKEN_URL, **{claim: None})], method="POST", uri=TOKEN_URL)


def test_with_an_access_token_ath_and_the_bound_key_are_checked() -> None:
    check = verifier(MemoryStore())
    key = new_key()
    url = "https://idp.test/userinfo"
    ok = proof(key, "GET", url, access_token="the-token")
    assert check.check([ok], method="GET", uri=url, access_token="the-token", jkt=key.thumbprint())
    for value, jkt in ((proof(key, "GET", url, access_token="another-token"), key.thumbprint()),
                       (proof(key, "GET", url), key.thumbprint()),
                       (proof(key, "GET", url, access_token="the-token"), new_key().thumbprint())):
        with pytest.raises(InvalidDpopProof):
            check.check([value], method="GET", uri=url, access_token="the-token", jkt=jkt)


def test_nonces_are_stateless_good_for_their_lifetime_and_cannot_be_forged() -> None:
    clock = Clock()
    worker_a = verifier(MemoryStore(), clock, require_nonce=True)
    worker_b = verifier(MemoryStore(), clock, require_nonce=True)
    key = new_key()
    with pytest.raises(UseDpopNonce) as asked:
        worker_a.check([proof(key, "POST", TOKEN_URL)], method="POST", uri=TOKEN_URL)
    nonce = asked.value.nonce
    assert asked.value.get_headers()[-1] == ("DPoP-Nonce", nonce)
    # Another worker (another store, the same key-encryption key) accepts it.
    worker_b.check([proof(key, "POST", TOKEN_URL, nonce=nonce)], method="POST", uri=TOKEN_URL)
    forged = nonce[:-2] + ("AA" if nonce[-2:] != "AA" else "BB")
    with pytest.raises(UseDpopNonce):
        worker_b.check([proof(key, "POST", TOKEN_URL, nonce=forged)], method="POST", uri=TOKEN_URL)
    other_server = DpopVerifier(MemoryStore(), nonce_key=b"another key", max_age=60, require_nonce=True,
                                nonce_lifetime=300, clock=clock)
    with pytest.raises(UseDpopNonce):
        other_server.check([proof(key, "POST", TOKEN_URL, nonce=nonce)], method="POST", uri=TOKEN_URL)
    clock.now += 301
    with pytest.raises(UseDpopNonce):
        worker_a.check([proof(key, "POST", TOKEN_URL, nonce=nonce, iat=int(clock.now))], method="POST", uri=TOKEN_URL)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    st.text(max_size=300),
    st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.text(alphabet="AZaz09-_=+/.", max_size=80),
              st.text(alphabet="AZaz09-_", max_size=80), st.text(max_size=40)),
    st.sampled_from(["e30.e30.", "bnVsbA.bnVsbA.", "W10.W10.x", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA",
                     "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjoiYSJ9.e30.AA",
                     "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIn19.e30.AA"]),
), max_size=2))
def test_junk_is_an_invalid_proof_never_a_crash(values: list[str]) -> None:
    with pytest.raises(InvalidDpopProof):
        verifier(MemoryStore()).check(values, method="POST", uri=TOKEN_URL, access_token="t", jkt="x" * 43)
