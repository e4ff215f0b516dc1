"""Provider token formats (gitleaks' rule set as the reference for the shapes), boundaries and fillers.

Every token is fake, format-valid and assembled at run time from a seeded generator
with its prefix split by concatenation, so this file holds nothing a secret scanner
or a push protection would flag. The seeds are fixed: no test depends on time.
"""

from __future__ import annotations

import base64
import random
import string

import pytest

from bastion.data import detect

ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
URLSAFE = ALNUM + "_-"


def fake(alphabet: str, n: int, seed: int) -> str:
    """A deterministic pseudo-random string (the same on every run)."""
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


def dashed(n: int, seed: int) -> str:
    """A URL-safe token body that ends in '-', which a trailing \\b cannot follow."""
    return fake(URLSAFE, n - 1, seed) + "-"


def secrets_in(text: str) -> dict[str, str]:
    return {e.value: e.entity_type for e in detect(text) if e.kind == "secret"}


def _gl(prefix: str) -> str:
    return "g" + "l" + prefix


TG_ID = "7" + fake(string.digits, 9, 1)
TG_SECRET = "AA" + fake(URLSAFE, 32, 2) + "7"

PROVIDERS: list[tuple[str, str, str, str]] = [
    # label, text, value expected, entity type expected
    ("telegram in bot URL", "https://api.telegram.org/bot" + TG_ID + ":" + TG_SECRET + "/sendMessage",
     TG_ID + ":" + TG_SECRET, "TELEGRAM_BOT_TOKEN"),
    ("telegram ending in '-'", "TELEGRAM_TOKEN=" + "51234" + ":A" + dashed(34, 3), "51234:A" + dashed(34, 3),
     "TELEGRAM_BOT_TOKEN"),
    ("sourcegraph", "SRC_ACCESS_TOKEN=" + "sg" + "p_" + fake(HEX, 16, 4) + "_" + fake(HEX, 40, 5),
     "sg" + "p_" + fake(HEX, 16, 4) + "_" + fake(HEX, 40, 5), "SOURCEGRAPH_ACCESS_TOKEN"),
    ("sourcegraph local", "token: " + "sg" + "p_local_" + fake(HEX, 40, 6), "sg" + "p_local_" + fake(HEX, 40, 6),
     "SOURCEGRAPH_ACCESS_TOKEN"),
    ("discord client secret", "DISCORD_CLIENT_SECRET=" + fake(URLSAFE, 31, 7) + "x", fake(URLSAFE, 31, 7) + "x",
     "DISCORD_CLIENT_SECRET"),
    ("linkedin client secret", 'linkedin_client_secret: "' + fake(ALNUM, 16, 8) + '"', fake(ALNUM, 16, 8),
     "LINKEDIN_CLIENT_SECRET"),
    ("dropbox app secret", "DROPBOX_APP_SECRET=" + fake(LOWER_ALNUM, 15, 9), fake(LOWER_ALNUM, 15, 9),
     "DROPBOX_API_SECRET"),
    ("dropbox short-lived", "dropbox_token = 's" + "l." + fake(URLSAFE, 140, 10) + "x'",
     "s" + "l." + fake(URLSAFE, 140, 10) + "x", "DROPBOX_SHORT_LIVED_TOKEN"),
    ("dropbox long-lived", "DROPBOX_TOKEN=" + fake(LOWER_ALNUM, 11, 11) + "A" * 10 + fake(URLSAFE, 42, 12) + "x",
     fake(LOWER_ALNUM, 11, 11) + "A" * 10 + fake(URLSAFE, 42, 12) + "x", "DROPBOX_LONG_LIVED_TOKEN"),
    ("asana PAT v2", "ASANA_PAT=2/" + fake(string.digits, 16, 13) + "/" + fake(string.digits, 16, 14) + ":"
     + fake(HEX, 32, 15), "2/" + fake(string.digits, 16, 13) + "/" + fake(string.digits, 16, 14) + ":"
     + fake(HEX, 32, 15), "ASANA_TOKEN"),
    ("asana PAT v1", "asana: 1/" + fake(string.digits, 13, 16) + ":" + fake(HEX, 32, 17),
     "1/" + fake(string.digits, 13, 16) + ":" + fake(HEX, 32, 17), "ASANA_TOKEN"),
    ("sumo access id", 'SUMO_ACCESS_ID = "s' + "u" + fake(ALNUM, 12, 18) + '"', "su" + fake(ALNUM, 12, 18),
     "SUMOLOGIC_ACCESS_ID"),
    ("sumo access key", "SUMOLOGIC_ACCESSKEY: " + fake(ALNUM, 64, 19), fake(ALNUM, 64, 19), "SUMOLOGIC_ACCESS_TOKEN"),
    ("adobe client secret", 'adobeClient := "p8' + "e-" + fake(ALNUM, 32, 20) + '"', "p8" + "e-" + fake(ALNUM, 32, 20),
     "ADOBE_CLIENT_SECRET"),
    ("artifactory api key", "ARTIFACTORY_API_KEY=" + "AK" + "Cp" + fake(ALNUM, 69, 21),
     "AK" + "Cp" + fake(ALNUM, 69, 21), "JFROG_API_KEY"),
    ("artifactory reference token", 'artifactoryRefToken := "' + "cmV" + "md" + fake(ALNUM, 59, 22) + '"',
     "cmV" + "md" + fake(ALNUM, 59, 22), "ARTIFACTORY_REFERENCE_TOKEN"),
    ("jfrog 73-char key", "--set imagePullSecretJfrog.password=" + fake(ALNUM, 73, 23), fake(ALNUM, 73, 23),
     "JFROG_API_KEY"),
    ("jfrog identity token", "JFROG_ACCESS_TOKEN: " + fake(ALNUM, 64, 24), fake(ALNUM, 64, 24),
     "JFROG_IDENTITY_TOKEN"),
    ("sidekiq bundler secret", "export BUNDLE_ENTERPRISE__CONTRIBSYS__COM=" + fake(HEX, 8, 25) + ":" + fake(HEX, 8, 26),
     fake(HEX, 8, 25) + ":" + fake(HEX, 8, 26), "SIDEKIQ_SECRET"),
    ("sidekiq url", "source 'https://" + fake(HEX, 8, 27) + ":" + fake(HEX, 8, 28) + "@gems.contribsys.com/'",
     fake(HEX, 8, 28), "SIDEKIQ_SENSITIVE_URL"),
    ("nuget config", '<add key="ClearTextPassword" value="' + "Feed" + fake(ALNUM, 12, 29) + '" />',
     "Feed" + fake(ALNUM, 12, 29), "NUGET_CONFIG_PASSWORD"),
    ("facebook app secret", "FACEBOOK_APP_SECRET=" + fake(HEX, 32, 30), fake(HEX, 32, 30), "FACEBOOK_APP_SECRET"),
    ("1password service account", "export OP_SERVICE_ACCOUNT_TOKEN=" + "op" + "s_eyJ" + fake(ALNUM + "+/", 260, 31),
     "op" + "s_eyJ" + fake(ALNUM + "+/", 260, 31), "ONEPASSWORD_SERVICE_ACCOUNT_TOKEN"),
    ("1password secret key", "emergency kit: " + "A3" + "-" + fake(UPPER_ALNUM, 6, 32) + "-" + fake(UPPER_ALNUM, 6, 33)
     + "-" + "-".join(fake(UPPER_ALNUM, 5, s) for s in range(34, 38)),
     "A3" + "-" + fake(UPPER_ALNUM, 6, 32) + "-" + fake(UPPER_ALNUM, 6, 33) + "-"
     + "-".join(fake(UPPER_ALNUM, 5, s) for s in range(34, 38)), "ONEPASSWORD_SECRET_KEY"),
    ("vault batch token", "VAULT_TOKEN=" + "hv" + "b." + fake(URLSAFE, 150, 38) + "x",
     "hv" + "b." + fake(URLSAFE, 150, 38) + "x", "HASHICORP_VAULT_BATCH_TOKEN"),
    ("vault service token ending '-'", "token: " + "hv" + "s." + dashed(95, 39), "hv" + "s." + dashed(95, 39),
     "HASHICORP_VAULT_TOKEN"),
    ("gitlab pat ending '-'", "GITLAB_TOKEN=" + _gl("pat-") + dashed(20, 40), _gl("pat-") + dashed(20, 40),
     "GITLAB_PAT"),
    ("gitlab pat routable", "token " + _gl("pat-") + fake(URLSAFE, 27, 41) + "x.01" + fake(LOWER_ALNUM, 7, 42),
     _gl("pat-") + fake(URLSAFE, 27, 41) + "x.01" + fake(LOWER_ALNUM, 7, 42), "GITLAB_PAT"),
    ("gitlab trigger", _gl("ptt-") + fake(HEX, 40, 43), _gl("ptt-") + fake(HEX, 40, 43),
     "GITLAB_PIPELINE_TRIGGER_TOKEN"),
    ("gitlab runner", _gl("rt-") + dashed(20, 44), _gl("rt-") + dashed(20, 44), "GITLAB_RUNNER_TOKEN"),
    ("gitlab runner routable", _gl("rt-t1_") + fake(URLSAFE, 27, 45) + "x.01" + fake(LOWER_ALNUM, 7, 46),
     _gl("rt-t1_") + fake(URLSAFE, 27, 45) + "x.01" + fake(LOWER_ALNUM, 7, 46), "GITLAB_RUNNER_TOKEN"),
    ("gitlab deploy", "pw: " + _gl("dt-") + dashed(20, 47), _gl("dt-") + dashed(20, 47), "GITLAB_DEPLOY_TOKEN"),
    ("gitlab feed", _gl("ft-") + dashed(20, 48), _gl("ft-") + dashed(20, 48), "GITLAB_FEED_TOKEN"),
    ("gitlab incoming mail", _gl("imt-") + fake(URLSAFE, 24, 49) + "x", _gl("imt-") + fake(URLSAFE, 24, 49) + "x",
     "GITLAB_INCOMING_MAIL_TOKEN"),
    ("gitlab k8s agent", _gl("agent-") + fake(URLSAFE, 49, 50) + "x", _gl("agent-") + fake(URLSAFE, 49, 50) + "x",
     "GITLAB_KUBERNETES_AGENT_TOKEN"),
    ("gitlab scim", _gl("soat-") + dashed(20, 51), _gl("soat-") + dashed(20, 51), "GITLAB_SCIM_TOKEN"),
    ("gitlab oauth app secret", _gl("oas-") + fake(URLSAFE, 63, 52) + "x", _gl("oas-") + fake(URLSAFE, 63, 52) + "x",
     "GITLAB_OAUTH_APP_SECRET"),
    ("gitlab feature flag", _gl("ffct-") + fake(URLSAFE, 19, 53) + "x", _gl("ffct-") + fake(URLSAFE, 19, 53) + "x",
     "GITLAB_FEATURE_FLAG_CLIENT_TOKEN"),
    ("gitlab runner registration", "GR" + "1348941" + dashed(20, 54), "GR" + "1348941" + dashed(20, 54),
     "GITLAB_RUNNER_REGISTRATION_TOKEN"),
    ("gitlab session cookie", "Cookie: _gitlab_session=" + fake(LOWER_ALNUM, 32, 55), fake(LOWER_ALNUM, 32, 55),
     "GITLAB_SESSION_COOKIE"),
    ("npmrc authToken", "//registry.npmjs.org/:_auth" + "Token=" + "0b4c7e2a-91d3-4f6e-8a5b-" + fake(HEX, 12, 56),
     "0b4c7e2a-91d3-4f6e-8a5b-" + fake(HEX, 12, 56), "NPMRC_AUTH_TOKEN"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "text", "value", "etype"), PROVIDERS, ids=[p[0] for p in PROVIDERS])
def test_provider_token_is_found(label: str, text: str, value: str, etype: str) -> None:
    found = secrets_in(text)
    assert found.get(value) == etype, (label, sorted(found.values()))


def test_random_token_that_happens_to_spell_a_placeholder_word_is_found() -> None:
    """Four random letters spell `your` now and then (a seed-99 eval token did); only a word counts."""
    token = "h" + "f_" + fake(string.ascii_letters, 15, 57) + "yOuR" + fake(string.ascii_letters, 15, 58)
    assert secrets_in(f"Use the key {token} in CI.") == {token: "HUGGINGFACE_TOKEN"}


def test_slack_token_is_not_shadowed_by_a_card_number_inside_it() -> None:
    """A PII hit strictly inside a secret's span must not win the overlap and hide the secret."""
    # as in the eval corpus (seed 1234): the 13-digit middle is Luhn-valid and "cc" precedes it
    token = "xo" + "xb-" + fake(string.digits, 12, 59) + "-6434378505379-" + fake(ALNUM, 24, 60)
    assert secrets_in(f"sent cc to ops. auth: {token} in CI") == {token: "SLACK_BOT_TOKEN"}


# --- 3. boundaries and fillers ----------------------------------------------------------------
NOT_TOKENS: list[tuple[str, str]] = [
    ("discord-like inside a dotted string", "ref: v2." + "M" + fake(URLSAFE, 23, 61) + "." + fake(URLSAFE, 6, 62) + "."
     + fake(URLSAFE, 27, 63) + ".sig"),
    ("'ado' inside shadow", "shadow_copy_path = " + fake("abcdefghijklmnopqrstuvwxyz234567", 52, 64)),
    ("telegram-like xsd type",
     '<xsd:element name="AgencyIdentificationCode" type="12345:AgencyIdentificationCodeContentType"/>'),
    ("zero-filled github token", "token: " + "gh" + "p_" + "0" * 36),
    ("zero-filled stripe key", "sk" + "_live_" + "0" * 24),
    ("x-filled slack token", "xo" + "xb-" + "0" * 12 + "-" + "0" * 13 + "-" + "x" * 24),
    ("EXAMPLE gitlab token", _gl("pat-") + "EXAMPLE" + "EXAMPLE" + "EXAMPLE" + "EX"),
    ("placeholder npm token", "np" + "m_" + "placeholder" + "PLACEHOLDER" + "placeholder" + "abc"),
    ("repeated-letter hf token", "h" + "f_" + "ab" * 17),
    ("zero generic key", 'api_key = "' + "0" * 32 + '"'),
    ("vault filler", "hv" + "s." + "x" * 95),
    ("1password filler", "A3" + "-XXXXXX-XXXXXXXXXXX-XXXXX-XXXXX-XXXXX"),
    ("telegram filler", "12345678:" + "AA" + "x" * 33),
    ("dash run after a prefix", "-" * 40 + _gl("pat-") + "-" * 40),
]  # fmt: skip


@pytest.mark.parametrize(("label", "text"), NOT_TOKENS, ids=[n[0] for n in NOT_TOKENS])
def test_filler_or_embedded_shape_is_not_a_token(label: str, text: str) -> None:
    found = secrets_in(text)
    assert not found, (label, sorted(found.values()))


def test_base64_blob_with_dots_is_not_a_dropbox_token() -> None:
    blob = base64.b64encode(random.Random(70).randbytes(120)).decode().replace("+", ".")
    assert "DROPBOX_SHORT_LIVED_TOKEN" not in secrets_in("data: " + blob).values()
