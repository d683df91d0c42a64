from mailguard.core.identity import (
    esp_of,
    is_freemail,
    org_domain,
    platform_encoded_address,
    registrable_domain,
    signature_domains,
    split_display_name,
)
from mailguard.core.parse import Address, parse_message
from mailfactory import newsletter, personal


def test_registrable_domain_is_public_suffix_aware():
    assert registrable_domain("mail.acme.io") == "acme.io"
    assert registrable_domain("news.bbc.co.uk") == "bbc.co.uk"
    assert registrable_domain("em123.shop.com.au") == "shop.com.au"
    assert registrable_domain("ACME.IO.") == "acme.io"


def test_freemail_and_platforms_are_not_organisations():
    for d in ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "googlemail.com"):
        assert is_freemail(d) and org_domain(d) is None
    assert org_domain("em1234.sendgrid.net") is None
    assert org_domain("mail12.mcsv.net") is None
    assert org_domain("mail.acme.io") == "acme.io"


def test_display_names_normalise_to_person_and_organisation():
    assert split_display_name("Jane Doe") == ("jane doe", "")
    assert split_display_name("Jane from Acme") == ("jane", "acme")
    assert split_display_name("Jane at Acme") == ("jane", "acme")
    assert split_display_name("Jane Doe (Acme Inc.)") == ("jane doe", "acme")
    assert split_display_name("José Núñez | Brightloop") == ("jose nunez", "brightloop")
    assert split_display_name("The Acme Team").org == "acme"
    assert split_display_name("Bright Loop HQ") == ("", "brightloop")
    assert split_display_name("newsletter") == ("", "")


def test_signature_domains_skip_freemail_social_and_quoted_text():
    raw = personal("Priya <priya@gmail.com>", body=(
        "Hi Sam,\n\nlet's talk.\n\n> On Monday someone at https://quoted.example wrote\n\n"
        "Best,\nPriya Patel\nFounder, Brightloop | https://www.brightloop.ai\n"
        "https://linkedin.com/in/priya | priya@gmail.com\n"))
    assert signature_domains(parse_message(raw)) == frozenset({"brightloop.ai"})


def test_esp_detection_from_headers_and_return_path():
    assert esp_of(parse_message(newsletter("A <a@acme.io>", esp="sendgrid"))) == "SendGrid"
    assert esp_of(parse_message(newsletter("A <a@acme.io>", esp="mailchimp"))) == "Mailchimp"
    assert esp_of(parse_message(newsletter("A <a@acme.io>", esp="ses"))) == "Amazon SES"
    assert esp_of(parse_message(personal("B <b@acme.io>"))) is None


def test_platform_encoded_sender_address():
    assert platform_encoded_address(Address("", "marco=corvid.dev@mail.beehiiv.com")) == "marco@corvid.dev"
    assert platform_encoded_address(Address("", "marco=corvid.dev@acme.io")) is None
