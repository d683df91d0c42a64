"""The config schema: unknown sections and keys name the nearest valid one, wrong types are one
line, the tables users extend are checked item by item, and what is valid loads into Config."""

from __future__ import annotations

import pytest

from mailguard import config as config_module
from mailguard.cli.main import main
from mailguard.config import SalesTool, load_config
from mailguard.core.linker import RULE_NAMES
from mailguard.errors import ConfigError


def load(tmp_path, text: str):
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    p.chmod(0o600)
    return load_config(p, env={"MAILGUARD_HOME": str(tmp_path / "home")})


def error(tmp_path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message
    prefix = f"config {tmp_path / 'config.toml'}: "
    assert message.startswith(prefix)
    return message[len(prefix):]


@pytest.mark.parametrize("text,expected", [
    # the typos of the issue: an unknown section, a key in [rules], a key in [mailbox]
    ('[mailbx]\nquarantine = "Promo"\n', "unknown section [mailbx]; did you mean [mailbox]?"),
    ("[rules]\nwindow_day = 30\n", "unknown key window_day in [rules]; did you mean window_days?"),
    ('[mailbox]\nquarantin = "Promo"\n', "unknown key quarantin in [mailbox]; did you mean quarantine?"),
    ('[imap]\nhots = "imap.example.org"\n', "unknown key hots in [imap]; did you mean host?"),
    # a key in the wrong section, or above every section
    ('[imap]\nquarantine = "Promo"\n', "unknown key quarantine in [imap]; it belongs in [mailbox]"),
    ('me = ["sam@rivera.dev"]\n',
     "me is not a section: it is a key of [mailbox] (write it below a [mailbox] line)"),
    ("[nothing_like_it]\nx = 1\n", "unknown section [nothing_like_it] (the sections are [accounts], "
     "[digest], [imap], [links], [mailbox], [model], [performance], [rules], [sales_tools], "
     "[sieve], [social])"),
    # tables users extend: each entry against its own schema
    ('[[accounts]]\nname = "work"\nusername = "a@b.example"\npasword_env = "X"\n',
     "unknown key pasword_env in [[accounts]] #1 ('work'); did you mean password_env?"),
    ('[[accounts]]\nname = "work"\n[accounts.mailbox]\nwach = "INBOX"\n',
     "unknown key wach in [[accounts]] #1 ('work') mailbox; did you mean watch?"),
    ('[[social.networks]]\nname = "Forum"\nsender = ["n@forum.example"]\n',
     "unknown key sender in [[social.networks]] #1 ('Forum'); did you mean senders?"),
    ('[[social.networks]]\nname = "Forum"\n[[social.networks.events]]\nkind = "followed you"\n'
     'subjet = "x"\n',
     "unknown key subjet in [[social.networks]] #1 ('Forum') events #1 ('followed you'); "
     "did you mean subject?"),
    ('[[sales_tools]]\nname = "Reply.io"\nheader = ["X-Reply"]\n',
     "unknown key header in [[sales_tools]] #1 ('Reply.io'); did you mean headers?"),
    ('[[sales_tools]]\nheaders = ["X-Reply"]\n', "[[sales_tools]] #1 needs name (a string)"),
    ("[links]\nSame_Org = true\n",
     # the valid names are the linker's registry, so a new rule does not break this test
     f"unknown link rule Same_Org in [links] (valid: {', '.join(sorted(RULE_NAMES))})"),
])
def test_unknown_names_say_where_and_the_nearest_valid_one(tmp_path, text, expected):
    assert error(tmp_path, text) == expected


@pytest.mark.parametrize("text,expected", [
    ("[sieve]\nfolder = 5\n", "[sieve] folder must be a folder name, not 5"),
    ("[rules]\nwindow_days = 1e400\n", "[rules] window_days must be a whole number of days from 1 to "
     "36500, not inf"),
    ("[rules]\nwindow_days = 30.5\n", "[rules] window_days must be a whole number of days from 1 to "
     "36500, not 30.5"),
    ("[rules]\nwindow_days = 0\n", "[rules] window_days must be a whole number of days from 1 to "
     "36500, not 0"),
    ("[rules]\npromo_threshold = nan\n", "[rules] promo_threshold must be a number from 0 to 1, not nan"),
    ("[rules]\nstrong_threshold = 1.5\n", "[rules] strong_threshold must be a number from 0 to 1, not 1.5"),
    ('[imap]\nport = "993"\n', '[imap] port must be a whole number from 1 to 65535, not "993"'),
    ('[imap]\ntls = "SSL"\n', '[imap] tls must be "ssl", "starttls" or "none", not "SSL"'),
    ("[imap]\nidle = 1\n", "[imap] idle must be true or false, not 1"),
    ("[imap]\npoll_seconds = 0\n", "[imap] poll_seconds must be a number of seconds above 0, not 0"),
    ('[mailbox]\nme = ["sam"]\n', '[mailbox] me must be a list of addresses; "sam" is not one'),
    ("[mailbox]\norganisations = [1]\n", "[mailbox] organisations must be a list of domains, not [1]"),
    ("[model]\npath = 1979-05-27\n", "[model] path must be a path, not 1979-05-27 (a date/time)"),
    ("rules = 5\n", "[rules] must be a table, not 5"),
    ('[links]\norganisation = "yes"\n', '[links] organisation must be true or false, not "yes"'),
    ('[[sales_tools]]\nname = "Reply.io"\nheaders = "X-Reply"\n',
     "[[sales_tools]] #1 ('Reply.io') headers must be a list of strings, not \"X-Reply\""),
    ("[[social.networks]]\nname = \"Forum\"\nmax_profiles = 0\n",
     "[[social.networks]] #1 ('Forum') max_profiles must be a whole number of at least 1, not 0"),
])
def test_wrong_types_are_one_line(tmp_path, text, expected):
    assert error(tmp_path, text) == expected


def test_everything_valid_loads_typed(tmp_path):
    cfg = load(tmp_path, """
[imap]
host = "imap.example.org"
username = "sam@rivera.dev"
password_command = ["pass", "show", "mail"]
keyring = false
oauth2_mech = "oauthbearer"
port = 993
poll_seconds = 30
[mailbox]
me = "Sam@Rivera.dev"
organisations = ["Rivera.dev"]
quarantine = "Werbung/Kontakt"
[rules]
window_days = 90
promo_threshold = 0.7
[model]
path = "~/m/promo.joblib"
[sieve]
folder = "Promo"
[links]
organisation = false
signature = true
[[sales_tools]]
name = "Reply.io"
headers = ["X-Reply-Io-Id"]
domains = ["Reply.io"]
[[accounts]]
name = "work"
host = "outlook.office365.com"
username = "sam@work.example"
oauth2_token_command = "oama access sam@work.example"
quarantine = "Promo"
[accounts.mailbox]
me = ["sam@work.example"]
[[social.networks]]
name = "Forum"
senders = ["notify@forum.example"]
[[social.networks.events]]
kind = "followed you"
subject = "^(?P<name>.+) followed you$"
""")
    assert cfg.me == ("sam@rivera.dev",) and cfg.organisations == ("rivera.dev",)
    assert cfg.rules.window_days == 90 and cfg.rules.promo_threshold == 0.7
    assert cfg.model is not None and cfg.model.name == "promo.joblib" and "~" not in str(cfg.model)
    assert cfg.sieve_folder == "Promo"
    assert cfg.links == {"organisation": False, "signature": True}
    assert cfg.sales_tools == (SalesTool("Reply.io", ("X-Reply-Io-Id",), ("reply.io",)),)
    assert cfg.raw["accounts"][0]["name"] == "work"


def test_link_rule_names_come_from_the_hook(tmp_path, monkeypatch):
    """Once the linker names its rules, [links] accepts only those, with the nearest one."""
    monkeypatch.setattr(config_module, "known_link_rules", lambda: {"same-org", "signature"})
    assert load(tmp_path, "[links]\nsignature = false\n").links == {"signature": False}
    assert error(tmp_path, "[links]\nsame-orgs = false\n") == \
        "unknown link rule same-orgs in [links]; did you mean same-org?"


def test_the_cli_says_it_in_one_line_and_exits_2(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[rules]\nwindow_day = 30\n")
    (home / "config.toml").chmod(0o600)
    monkeypatch.setenv("MAILGUARD_HOME", str(home))
    monkeypatch.delenv("MAILGUARD_CONFIG", raising=False)
    for argv in (["scan", "/nonexistent"], ["run", "--once"], ["check"], ["export", "sieve"],
                 ["undo", "--last"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert err.endswith("unknown key window_day in [rules]; did you mean window_days?\n")


def test_every_key_the_code_reads_is_in_the_schema():
    """The sections and keys read elsewhere (imap_session, social) are all known to the schema."""
    from mailguard.imap import session as imap_session
    from mailguard.core import social

    assert imap_session._IMAP_KEYS <= set(config_module.IMAP.keys)
    assert imap_session._MAILBOX_KEYS <= set(config_module.ACCOUNT_MAILBOX)
    assert social._ENTRY_KEYS == set(config_module.SOCIAL_NETWORK.keys)
    assert social._EVENT_KEYS == set(config_module.SOCIAL_EVENT.keys)
