"""Keyword-anchored (generic) secrets: assignments in many syntaxes, and references that are not secrets.

Every value here is fake and built at run time (a seeded generator, prefixes split
by concatenation) so that this file itself holds nothing a secret scanner or a
push protection would flag. The seeds are fixed: no test depends on time or chance.
"""

from __future__ import annotations

import base64
import json
import random
import string

import pytest

from bastion.data import Detector, detect
from bastion.data._detect.engine import shannon_entropy

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def fake(alphabet: str, n: int, seed: int) -> str:
    """A deterministic pseudo-random string (the same on every run)."""
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


def fake_password(seed: int) -> str:
    """A 12-character password with each character class, deterministic."""
    rng = random.Random(seed)
    chars = [rng.choice(string.ascii_lowercase) for _ in range(6)]
    chars += [rng.choice(string.ascii_uppercase) for _ in range(2)]
    chars += [rng.choice(string.digits) for _ in range(2)]
    chars += [rng.choice("!#%&*+?@^") for _ in range(2)]
    rng.shuffle(chars)
    return "".join(chars)


def sops(key: str, seed: int) -> str:
    """A SOPS-encrypted YAML value: an envelope, not the secret."""
    return (
        f"{key}: ENC[AES256_GCM,data:{fake(ALNUM, 24, seed)}=,iv:{fake(ALNUM, 43, seed + 1)}=,"
        f"tag:{fake(ALNUM, 22, seed + 2)}==,type:str]"
    )


SECRET = fake(ALNUM, 24, 1)
PASSWORD = fake_password(2)
DJANGO_KEY = "django-" + "insecure-" + fake(HEX + "!@#$%^&*(-_=+)", 40, 3)


def secrets_in(text: str) -> dict[str, str]:
    """Detected secret values (not types) mapped to their types."""
    return {e.value: e.entity_type for e in detect(text) if e.kind == "secret"}


def secret_types(text: str) -> set[str]:
    return {e.entity_type for e in detect(text) if e.kind == "secret"}


# --- 1. assignments the generic patterns used to miss ----------------------------------------
ASSIGNMENTS: list[tuple[str, str, str]] = [
    ("camelCase apiKey", f'const apiKey = "{SECRET}";', SECRET),
    ("camelCase clientSecret", f"clientSecret: '{SECRET}'", SECRET),
    ("camelCase dbPassword", f'dbPassword = "{PASSWORD}"', PASSWORD),
    ("camelCase myApiKey", f"this.myApiKey = '{SECRET}';", SECRET),
    ("Makefile ?=", f"DB_PASSWORD ?= {PASSWORD}", PASSWORD),
    ("Makefile ::=", f"API_TOKEN ::= {SECRET}", SECRET),
    ("PHP .=", f'$password .= "{PASSWORD}";', PASSWORD),
    ("PHP =>", f"'api_key' => '{SECRET}',", SECRET),
    ("Go :=", f'password := "{PASSWORD}"', PASSWORD),
    ("Go backticks", f"apiKey := `{SECRET}`", SECRET),
    ("Go typed var", f'var dbPassword string = "{PASSWORD}"', PASSWORD),
    ("Python annotation", f'password: str = "{PASSWORD}"', PASSWORD),
    ("Kotlin annotation", f'val clientSecret: String = "{SECRET}"', SECRET),
    ("XML element", f"<password>{PASSWORD}</password>", PASSWORD),
    ("XML appSettings", f'<add key="ApiKey" value="{SECRET}"/>', SECRET),
    ("comparison ==", f'if (password == "{PASSWORD}") {{', PASSWORD),
    ("comparison !=", f"if token != '{SECRET}':", SECRET),
    ("Django SECRET_KEY", f"SECRET_KEY = '{DJANGO_KEY}'", DJANGO_KEY),
    ("short framework secret", "app.config['SECRET_KEY'] = '" + "x7!Kp2#rQ9" + "'", "x7!Kp2#rQ9"),
    ("auth tuple", f'requests.get(url, auth=("deploy", "{PASSWORD}"))', PASSWORD),
    ("HTTPBasicAuth tuple", f'HTTPBasicAuth("admin", "{PASSWORD}")', PASSWORD),
    ("curl -u", f"curl -u admin:{PASSWORD} https://api.internal/v1/items", PASSWORD),
    ("curl --user", f'curl -s --user "deploy:{PASSWORD}" https://api.internal/v1/items', PASSWORD),
    (
        "curl -u on a continuation line",
        f"curl -X POST https://api.internal/v1/items \\\n  -u admin:{PASSWORD}",
        PASSWORD,
    ),
]


@pytest.mark.parametrize(("label", "text", "value"), ASSIGNMENTS, ids=[a[0] for a in ASSIGNMENTS])
def test_generic_assignment_is_found(label: str, text: str, value: str) -> None:
    found = secrets_in(text)
    assert value in found, (label, sorted(found.values()))


def test_hex_token_with_hex_level_entropy_is_found() -> None:
    """Hex has at most 4 bits/char, so a 32-hex token often sits under the 3.5 floor meant for base64."""
    token = next(t for t in (fake(HEX, 32, s) for s in range(200)) if shannon_entropy(t) < 3.4)
    assert token in secrets_in(f"DEPLOY_TOKEN={token}")
    assert token in secrets_in(f'"SLACK_TOKEN": "{token}"')


@pytest.mark.parametrize("scheme", ["ssh", "sftp", "imaps", "svn+ssh", "clickhouse", "nats"])
def test_credentials_in_any_url_scheme(scheme: str) -> None:
    assert PASSWORD in secrets_in(f"remote = {scheme}://deploy:{PASSWORD}@host.internal:2222/x")


def _jwt(seed: int) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    sig = base64.urlsafe_b64encode(random.Random(seed).randbytes(32)).rstrip(b"=").decode()
    return part({"alg": "HS256", "typ": "JWT"}) + "." + part({"sub": "svc-" + str(seed), "scope": "admin"}) + "." + sig


def test_base64_wrapped_jwt_is_found() -> None:
    wrapped = base64.b64encode(_jwt(7).encode()).decode()
    found = secrets_in(f"token: {wrapped}")
    assert found.get(wrapped) == "JWT"
    # starts like a wrapped JWT ("eyJ" -> "ZXlK") but holds no JWT: the decode check drops it
    not_jwt = base64.b64encode(b"eyJ" + b"not a token, just text that happens to start the same way").decode()
    assert not_jwt.startswith("ZXlK") and not_jwt not in secrets_in(f"blob: {not_jwt}")


_BEGIN = "-----BEGIN " + "RSA PRIVATE" + " KEY-----"
_END = "-----END " + "RSA PRIVATE" + " KEY-----"


def test_private_key_with_truncated_body_is_still_a_finding() -> None:
    body = fake(ALNUM + "+/", 40, 9)
    for text in (f"{_BEGIN}\n{body}\n", f"{_BEGIN}\n{body}\n... (truncated)", f"{_BEGIN}\n{_END}"):
        types = secret_types(text)
        assert any(t.startswith("PRIVATE_KEY") for t in types), text


def test_json_escaped_private_key_is_one_finding() -> None:
    body = "\\n".join(fake(ALNUM + "+/", 64, s) for s in range(4))
    pkcs8 = "-----BEGIN " + "PRIVATE" + " KEY-----"
    text = '{"private_key": "' + pkcs8 + "\\n" + body + "\\n" + pkcs8.replace("BEGIN", "END") + '\\n"}'
    ents = [e for e in detect(text) if e.kind == "secret"]
    assert [e.entity_type for e in ents] == ["PRIVATE_KEY_PKCS8"]


# --- 3. references, placeholders and layout that are not secrets ----------------------------------
NOT_SECRETS: list[tuple[str, str]] = [
    ("Jenkins credentialsId", "withCredentials([usernamePassword(credentialsId: 'github-deploy-key-prod')])"),
    ("credentials_id", 'credentials_id = "jenkins-prod-deploy-creds"'),
    ("Terraform var", "password = var.db_admin_password"),
    ("Terraform local", "  master_password = local.rds_master_password_v2"),
    ("secret_name", 'secret_name = "prod/payments/database-credentials"'),
    ("SecretId", 'SecretId: "prod/payments/db-credentials-2024"'),
    ("token_url", 'token_url = "https://login.internal/oauth2/v2.0/token"'),
    ("os.environ", 'password = os.environ["DB_PASSWORD"]'),
    ("os.getenv", 'api_key = os.getenv("OPENAI_API_KEY_PROD_2")'),
    ("process.env", "const apiSecret = process.env.API_SECRET_VALUE;"),
    ("shell var", "password: $DB_PASSWORD_FROM_VAULT"),
    ("braced var", "password: ${DB_PASSWORD}"),
    ("GitHub Actions", "token: ${{ secrets.DEPLOY_TOKEN_PROD }}"),
    ("Jinja", 'password: "{{ secrets.db_password_prod }}"'),
    ("Windows var", '<add key="ClearTextPassword" value="%NUGET_FEED_PASSWORD%" />'),
    ("getpass", "password = getpass.getpass()"),
    ("SOPS password", sops("password", 11)),
    ("SOPS api_key", sops("api_key", 14)),
    ("empty value, next line", "DB_PASSWORD=\nDB_HOST=postgres-primary-01.internal.corp"),
    ("empty yaml value", "api_key:\n  rotation_schedule_ref: quarterly-rotation-2024"),
    ("empty value, escaped newline", '"DB_PASSWORD=\\nDB_HOST=postgres-primary-01.internal.corp"'),
    ("key name written out", '("dropbox app secret", "DROPBOX_APP_SECRET=" + value)'),
    ("slug value", 'secret: "my-team-shared-secret-name"'),
    ("your-key placeholder", 'api_key = "YOUR_API_KEY_GOES_HERE_123"'),
    ("your-token placeholder", "GITHUB_TOKEN=yourtoken0123abcdXYZ"),
    ("placeholder password in URL", "postgres://user:password@localhost:5432/app"),
    ("curl placeholder", "curl -u admin:$ADMIN_PASSWORD https://api.internal/v1/items"),
    ("curl shell subst", 'curl --user "$(cat user.txt):$(cat pass.txt)" https://api.internal'),
    # shapes seen in real third-party sources (pip, sqlalchemy, fastapi, cryptography, httpx, sklearn names)
    ("type annotation", "    password: HiddenText | None = None"),
    ("enum value naming the key", 'AttributeOID.CHALLENGE_PASSWORD: "challengePassword",'),
    ("type name with digits", "        private_key: PKCS7PrivateKeyTypes,"),
    ("keyword argument", "return HTTPBasicCredentials(username=username, password=password)"),
    ("attribute in a dict", 'return {"username": credentials.username, "password": credentials.password}'),
    ("setting about the secret", ":param hide_password: Defaults to True.   The password is not shown"),
    ("f-string field", 'print(f"password={password!r}")'),
    ("f-string in a URL", "feature_store_url: postgresql://fraud_svc:{db_password}@feature-store:5432/features"),
    ("sample credentials", 'create_engine("postgresql://scott:tiger@localhost/test")'),
    ("prompt call", 'password = click.prompt("Password", hide_input=True)'),
    ("argument list", "ok = _verify(row.password_hash, password)"),
    (
        "word starting like a keyword",
        '"sklearn.linear_model.PassiveAggressiveClassifier": "sklearn.linear_model.'
        '_passive_aggressive.PassiveAggressiveClassifier",',
    ),
    ("file name key", '"tokenizer.json": "' + fake(HEX, 64, 21) + '"'),
    ("bracketed placeholder", '"PWD=(whatever);"'),
    ("docstring", "            password: Optional password for the private key."),
    ("attribute of a name holding the word", "    PQchangePassword.argtypes = [PGconn_ptr, c_char_p, c_char_p]"),
    ("git config key", "#       Example: `credential.https://huggingface.co.helper=store`"),
    ("test-vector row", '            ("password", "78578E5A5D63CB06", 16, 1000, "DC19847E05C64D2FAF10EBFB4A3D2A20"),'),
]


@pytest.mark.parametrize(("label", "text"), NOT_SECRETS, ids=[n[0] for n in NOT_SECRETS])
def test_reference_or_placeholder_is_not_a_secret(label: str, text: str) -> None:
    found = secrets_in(text)
    assert not found, (label, sorted(found.values()))


KEPT: list[tuple[str, str, str]] = [
    (".env", f"DB_PASSWORD={PASSWORD}", PASSWORD),
    ("YAML unquoted", f"db_password: {PASSWORD}", PASSWORD),
    ("quoted pair in a list", f'creds = ["api_key", "{SECRET}"]', SECRET),
    ("quoted pair in a tuple", f'pair = ("password", "{PASSWORD}")', PASSWORD),
    ("keyword argument literal", f'connect(host="db", password="{PASSWORD}")', PASSWORD),
]


@pytest.mark.parametrize(("label", "text", "value"), KEPT, ids=[k[0] for k in KEPT])
def test_false_alarm_rules_keep_literal_values(label: str, text: str, value: str) -> None:
    assert value in secrets_in(text), label


def test_key_check_still_keeps_real_values_next_to_reference_keys() -> None:
    """The key-name rule drops `secret_name = ...`, not `secret = ...` on the next line."""
    text = f'secret_name = "prod/payments/database-credentials"\nsecret = "{SECRET}"'
    assert set(secrets_in(text)) == {SECRET}


def test_evidence_is_masked() -> None:
    ent = next(e for e in Detector().detect(f"dbPassword = '{PASSWORD}'") if e.kind == "secret")
    assert PASSWORD not in repr(ent) and PASSWORD not in str(ent.to_dict())
