from __future__ import annotations

from dataclasses import replace

import pytest
from joserfc.jwk import ECKey, OctKey

from clients.models import Client, InvalidClientMetadata, check_client_metadata, plain_fields
from clients.secrets import hash_secret, new_secret


def make(**overrides: object) -> Client:
    base = Client(
        client_id="tax-portal",
        name="Tax portal",
        token_endpoint_auth_method="client_secret_basic",
        redirect_uris=("https://tax.example/cb",),
        post_logout_redirect_uris=("https://tax.example/bye",),
        grant_types=("authorization_code", "refresh_token"),
        scopes=("openid", "profile", "tax.file"),
        secret_hash=hash_secret("s3cret"),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def public_jwks() -> dict[str, object]:
    return {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}


def test_a_valid_client_passes() -> None:
    check_client_metadata(make())


def test_secrets_are_256_bit_and_distinct() -> None:
    a, b = new_secret(), new_secret()
    assert a != b and len(a) >= 43
    assert hash_secret(a) == hash_secret(a) and len(hash_secret(a)) == 64 and a not in hash_secret(a)


def test_check_client_secret_right_and_wrong() -> None:
    client = make()
    assert client.check_client_secret("s3cret")
    assert not client.check_client_secret("s3cret ")
    assert not client.check_client_secret("")


def test_disabled_or_hashless_client_never_matches_a_secret() -> None:
    assert not make(enabled=False).check_client_secret("s3cret")
    assert not make(secret_hash=None).check_client_secret("")


@pytest.mark.parametrize(
    "uri",
    ["https://tax.example/cb/", "https://TAX.example/cb", "https://tax.example/cb?x=1", "https://tax.example/c",
     "https://tax.example/cb#f", "https://tax.example:443/cb"],
)
def test_redirect_uri_must_match_exactly(uri: str) -> None:
    assert make().check_redirect_uri("https://tax.example/cb")
    assert not make().check_redirect_uri(uri)


def test_default_redirect_uri_only_when_exactly_one() -> None:
    assert make().get_default_redirect_uri() == "https://tax.example/cb"
    two = make(redirect_uris=("https://tax.example/a", "https://tax.example/b"))
    assert two.get_default_redirect_uri() is None


def test_allowed_scope_keeps_request_order_and_drops_unregistered() -> None:
    assert make().get_allowed_scope("tax.file admin openid openid") == "tax.file openid"
    assert make().get_allowed_scope("") == ""


def test_authlib_mixin_checks() -> None:
    client = make()
    assert client.get_client_id() == "tax-portal"
    assert client.check_response_type("code") and not client.check_response_type("token")
    assert not make(grant_types=("client_credentials",), redirect_uris=()).check_response_type("code")
    assert client.check_grant_type("refresh_token") and not client.check_grant_type("client_credentials")
    for endpoint in ("token", "introspection", "revocation"):
        assert client.check_endpoint_auth_method("client_secret_basic", endpoint)
        assert not client.check_endpoint_auth_method("client_secret_post", endpoint)
        assert not client.check_endpoint_auth_method("none", endpoint)
    assert make(token_endpoint_auth_method="none").is_public and not client.is_public


def test_loopback_http_and_private_key_jwt_are_accepted() -> None:
    for uri in ("http://127.0.0.1:8080/cb", "http://localhost/cb", "http://[::1]:9000/cb"):
        check_client_metadata(make(redirect_uris=(uri,)))
    check_client_metadata(
        make(token_endpoint_auth_method="private_key_jwt", jwks=public_jwks(), secret_hash=None)
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"client_id": "ab"}, "client_id"),
        ({"client_id": "tax portal"}, "client_id"),
        ({"client_id": "tax/portal"}, "client_id"),
        ({"client_id": "x" * 129}, "client_id"),
        ({"name": "  "}, "name"),
        ({"token_endpoint_auth_method": "client_secret_jwt"}, "token_endpoint_auth_method"),
        ({"grant_types": ("implicit",)}, "grant_types"),
        ({"grant_types": ()}, "grant_types"),
        ({"grant_types": ("refresh_token",), "redirect_uris": ()}, "grant_types"),
        ({"redirect_uris": ()}, "redirect_uris"),
        ({"token_endpoint_auth_method": "none", "grant_types": ("authorization_code", "client_credentials")},
         "grant_types"),
        ({"redirect_uris": ("http://tax.example/cb",)}, "redirect_uris"),
        ({"redirect_uris": ("https://tax.example/cb#frag",)}, "redirect_uris"),
        ({"redirect_uris": ("https://*.tax.example/cb",)}, "redirect_uris"),
        ({"redirect_uris": ("/cb",)}, "redirect_uris"),
        ({"redirect_uris": ("com.example.app:/cb",)}, "redirect_uris"),
        ({"redirect_uris": ("https://tax.example/c b",)}, "redirect_uris"),
        ({"redirect_uris": ("http://127.0.0.2/cb",)}, "redirect_uris"),
        ({"post_logout_redirect_uris": ("http://tax.example/bye",)}, "post_logout_redirect_uris"),
        ({"post_logout_redirect_uris": ("https://tax.example/bye#x",)}, "post_logout_redirect_uris"),
        ({"backchannel_logout_uri": "http://tax.example/logout"}, "backchannel_logout_uri"),
        ({"backchannel_logout_uri": "https://tax.example/*"}, "backchannel_logout_uri"),
        ({"frontchannel_logout_uri": "http://tax.example/logout"}, "frontchannel_logout_uri"),
        ({"frontchannel_logout_uri": "https://tax.example/logout#now"}, "frontchannel_logout_uri"),
        ({"frontchannel_logout_uri": "https://tax.example/*"}, "frontchannel_logout_uri"),
        ({"frontchannel_logout_uri": "/logout"}, "frontchannel_logout_uri"),
        ({"frontchannel_logout_uri": ""}, "frontchannel_logout_uri"),
        ({"frontchannel_logout_session_required": "false"}, "frontchannel_logout_session_required"),
        ({"backchannel_logout_session_required": 0}, "backchannel_logout_session_required"),
        ({"require_consent": "yes"}, "require_consent"),
        ({"scopes": ("open id",)}, "scopes"),
        ({"audiences": ("",)}, "audiences"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
        ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}}, "jwks"),
        ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "EC"}]}}, "jwks"),
        ({"token_endpoint_auth_method": "private_key_jwt",
          "jwks": {"keys": [ECKey.generate_key("P-256").as_dict(private=True)]}}, "jwks"),
        ({"token_endpoint_auth_method": "private_key_jwt",
          "jwks": {"keys": [OctKey.generate_key(256).as_dict()]}}, "jwks"),
        ({"id_token_signed_response_alg": "HS256"}, "id_token_signed_response_alg"),
        ({"id_token_signed_response_alg": "none"}, "id_token_signed_response_alg"),
        ({"min_level": 0}, "min_level"),
        ({"min_level": 4}, "min_level"),
        ({"min_level": True}, "min_level"),
        ({"name_fa": " "}, "name_fa"),
        ({"name_en": "x" * 201}, "name_en"),
        ({"name_en": "Tax\nportal"}, "name_en"),
        ({"logo_uri": "http://tax.example/logo.png"}, "logo_uri"),
        ({"logo_uri": "javascript:alert(1)"}, "logo_uri"),
        ({"client_uri": "//tax.example"}, "client_uri"),
        ({"policy_uri": "https://tax.example/privacy#top"}, "policy_uri"),
        ({"tos_uri": "data:text/html,hi"}, "tos_uri"),
        ({"contacts": ("not an address",)}, "contacts"),
        ({"contacts": ("ops@localhost",)}, "contacts"),
        ({"contacts": tuple(f"ops{i}@tax.example" for i in range(11))}, "contacts"),
    ],
)
def test_validator_rejects_and_names_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidClientMetadata) as info:
        check_client_metadata(make(**overrides))
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_logout_and_consent_metadata_defaults() -> None:
    client = make()
    assert client.frontchannel_logout_uri is None and client.require_consent is False
    assert client.backchannel_logout_session_required is True
    assert client.frontchannel_logout_session_required is True


def test_frontchannel_logout_uri_follows_the_backchannel_rules() -> None:
    check_client_metadata(make(frontchannel_logout_uri="https://tax.example/logout?from=idp",
                               frontchannel_logout_session_required=False, require_consent=True))
    check_client_metadata(make(frontchannel_logout_uri="http://localhost:8080/logout"))


def test_plain_fields_carry_the_logout_and_consent_metadata() -> None:
    fields = plain_fields(make(frontchannel_logout_uri="https://tax.example/fc", require_consent=True,
                               backchannel_logout_session_required=False))
    assert fields["frontchannel_logout_uri"] == "https://tax.example/fc"
    assert fields["require_consent"] is True
    assert fields["backchannel_logout_session_required"] is False
    assert fields["frontchannel_logout_session_required"] is True


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subject_type": "secret"}, "subject_type"),
        ({"subject_type": "pairwise", "redirect_uris": ("https://a.example/cb", "https://b.example/cb")},
         "sector_identifier_uri"),
        ({"subject_type": "pairwise", "sector_identifier_uri": "http://tax.example/sector.json"},
         "sector_identifier_uri"),
        ({"require_pushed_authorization_requests": "yes"}, "require_pushed_authorization_requests"),
        ({"dpop_bound_access_tokens": 1}, "dpop_bound_access_tokens"),
        ({"profile": "fapi1"}, "profile"),
        ({"profile": "fapi2", "require_pushed_authorization_requests": True, "dpop_bound_access_tokens": True},
         "token_endpoint_auth_method"),
    ],
)
def test_subject_and_profile_rules_name_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidClientMetadata) as caught:
        check_client_metadata(make(**overrides))
    assert caught.value.field == field


def test_pairwise_sector_is_the_one_redirect_host_or_the_sector_identifier_host() -> None:
    from clients.subjects import Subjects, sector

    one_host = make(subject_type="pairwise", redirect_uris=("https://tax.example/cb", "https://tax.example/cb2"))
    check_client_metadata(one_host)
    assert sector(one_host) == "tax.example"
    listed = make(subject_type="pairwise", redirect_uris=("https://a.example/cb", "https://b.example/cb"),
                  sector_identifier_uri="https://sector.example/uris.json")
    check_client_metadata(listed)
    assert sector(listed) == "sector.example"
    subjects = Subjects(b"salt")
    assert subjects.for_client(make(), "person-1") == "person-1"  # public: the person's id
    pairwise = subjects.for_client(one_host, "person-1")
    assert pairwise != "person-1" and pairwise == subjects.for_client(one_host, "person-1")
    assert pairwise != subjects.for_client(listed, "person-1")
    assert pairwise != Subjects(b"other salt").for_client(one_host, "person-1")


def test_fapi2_clients_use_private_key_jwt_par_and_dpop() -> None:
    client = make(token_endpoint_auth_method="private_key_jwt", jwks=public_jwks(), secret_hash=None,
                  profile="fapi2", require_pushed_authorization_requests=True, dpop_bound_access_tokens=True)
    check_client_metadata(client)
    assert client.is_fapi2
    for flag in ("require_pushed_authorization_requests", "dpop_bound_access_tokens"):
        with pytest.raises(InvalidClientMetadata) as caught:
            check_client_metadata(replace(client, **{flag: False}))
        assert caught.value.field == flag


def test_fapi2_clients_get_their_answers_over_https_only() -> None:
    """FAPI 2.0 Security Profile §5.3.2.2: no http redirect URI, not even on loopback."""
    fapi2 = {"token_endpoint_auth_method": "private_key_jwt", "jwks": public_jwks(), "secret_hash": None,
             "profile": "fapi2", "require_pushed_authorization_requests": True, "dpop_bound_access_tokens": True}
    check_client_metadata(make(redirect_uris=("http://127.0.0.1:8080/cb",)))  # allowed to ordinary clients
    with pytest.raises(InvalidClientMetadata) as caught:
        check_client_metadata(make(redirect_uris=("https://tax.example/cb", "http://127.0.0.1:8080/cb"), **fapi2))
    assert caught.value.field == "redirect_uris" and "fapi2" in caught.value.reason


def test_a_page_shows_the_clients_name_in_its_language_else_the_other_else_the_registered_name() -> None:
    both = make(name_fa="سامانه مالیات", name_en="Tax portal (English)")
    assert (both.display_name("fa"), both.display_name("en")) == ("سامانه مالیات", "Tax portal (English)")
    persian_only = make(name_fa="سامانه مالیات")
    assert (persian_only.display_name("fa"), persian_only.display_name("en")) == ("سامانه مالیات",) * 2
    assert make().display_name("fa") == make().display_name("en") == "Tax portal"


def test_the_pages_about_a_client_are_stored_and_shown_as_given() -> None:
    client = make(logo_uri="https://tax.example/logo.svg", client_uri="https://tax.example/",
                  policy_uri="https://tax.example/privacy", tos_uri="https://tax.example/terms")
    check_client_metadata(client)
    fields = plain_fields(client)
    assert [fields[k] for k in ("logo_uri", "client_uri", "policy_uri", "tos_uri")] == [
        "https://tax.example/logo.svg", "https://tax.example/", "https://tax.example/privacy",
        "https://tax.example/terms"]
