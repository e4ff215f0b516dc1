"""The built-in secret patterns (cloud, VCS, CI, payment, chat, AI, keys, connection strings).

Distinctive prefixes (``ghp_``, ``AKIA``, ``xoxb-``) are reported on shape alone.
Credentials without a prefix (a 32-hex Datadog key) are only reported when a
keyword assigns them (``datadog_api_key = ...``), the way gitleaks anchors its
generic rules; the keyword is part of the match and group 1 is the value.

Every pattern must stay valid for both RE2 and Hyperscan (no look-around, no
back-references), which is what keeps matching linear-time; whatever needs more
than a regex (is the key a *name* of a secret rather than a secret, is the value
a reference such as ``var.db_password`` or ``${TOKEN}``, a filler such as
``0000...``) is decided afterwards, per hit, by the checks in `SECRET_CHECKS`.
"""

# ruff: noqa: E501  (regexes are data; splitting them hurts review)
from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping

from bastion.data._detect.model import Pattern
from bastion.data._detect.validators import jwt as _jwt_shape

# --- building blocks -------------------------------------------------------------------------
# What may follow a keyword before the value: more of the key name, an optional type
# annotation (Go `var x string = `, Python `x: str = `, Kotlin `x: String = `), closing
# quotes/brackets of the key (`['SECRET_KEY'] = `), then one assignment or comparison
# operator. Spacing is `[ \t]`, never a newline, so `password=` with nothing after it does
# not take the next line as its value.
_KEY_TAIL = r"[\w.-]{0,25}"
_TYPE = r"(?:[ \t]*:[ \t]*[A-Za-z_][\w.]{0,24}|[ \t]+(?:string|String|str|const|char|\[\]byte))?"
_OP = r"(?:=>|:=|::=|\?=|\.=|\+=|={1,3}|!={1,2}|\|\|:|:|,|value[ \t]*=)"
_ASSIGN = _KEY_TAIL + _TYPE + r"[ \t'\"\]]{0,3}" + _OP + r"[ \t'\"\x60]{0,5}"
_ASSIGN_TO_QUOTE = _KEY_TAIL + _TYPE + r"[ \t'\"\]]{0,3}" + _OP + r"[ \t]{0,3}"
# the end of a token whose alphabet includes '-': `\b` cannot follow a trailing '-', `\B` can
_TAIL = r"(?:[A-Za-z0-9_]\b|-\B)"


def _split_top(alternation: str) -> list[str]:
    """The top-level alternatives of a regex alternation (`|` outside groups and classes)."""
    out: list[str] = []
    depth = 0
    in_class = False
    cur = ""
    i = 0
    while i < len(alternation):
        ch = alternation[i]
        if ch == "\\":
            cur += alternation[i : i + 2]
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append(cur)
            cur = ""
            i += 1
            continue
        cur += ch
        i += 1
    out.append(cur)
    return out


def _keys(alternation: str) -> str:
    """A key-name matcher for `alternation` (lower-case alternatives that each start with a letter).

    The keyword matches case-insensitively at the start or after a non-alphanumeric
    character (`DB_PASSWORD`, `"password"`), or with its first letter upper-case right
    after a lower-case letter or digit (camelCase: `dbPassword`, `myApiKey`). Why: with
    no left edge a short keyword fires inside words (`ado` in `shadow`), and with a plain
    left edge camelCase names are missed.
    """
    alts = _split_top(alternation)
    for a in alts:
        if not a[:1].isalpha():
            raise ValueError(f"keyword alternative must start with a letter: {a!r}")
    camel = "|".join(a[0].upper() + "(?i:" + a[1:] + ")" for a in alts)
    return rf"(?:(?:^|[^A-Za-z0-9])(?i:{alternation})|(?-i:[a-z0-9](?:{camel})))"


def _s(name: str, regex: str, score: float = 0.95, etype: str | None = None, **kw: object) -> Pattern:
    """A secret pattern; its entity type is the upper-cased name unless `etype` shares another's."""
    return Pattern(name=name, entity_type=etype or name.upper(), regex=regex, score=score, kind="secret", **kw)  # type: ignore[arg-type]


def _kw(name: str, keywords: str, value: str, score: float = 0.85, entropy: float | None = 3.0,
        etype: str | None = None) -> Pattern:  # fmt: skip
    """A keyword-anchored secret: a key name holding one of `keywords`, an assignment, the value."""
    return _s(name, _keys(keywords) + rf"(?i:{_ASSIGN})((?i:{value}))(?:[^A-Za-z0-9_-]|$)", score, etype,
              entropy=entropy)  # fmt: skip


_PEM_BODY = r"[A-Za-z0-9+/=\s:,\\-]{64,}?"  # `\\` so a JSON-escaped key (`\n` as two characters) matches too

_PASSWORD_KEYS = "password|passwd|passphrase|pwd|db_pass|pass"
_SECRET_KEYS = ("secret|token|api[_-]?key|apikey|access[_-]?key|client[_-]?secret|private[_-]?key|auth[_-]?key"
                "|credential|signing[_-]?key|encryption[_-]?key|app[_-]?key|master[_-]?key|session[_-]?key"
                "|consumer[_-]?secret")  # fmt: skip

SECRET_PATTERNS: tuple[Pattern, ...] = (
    # --- cloud providers -------------------------------------------------------------------
    _s("aws_access_key_id", r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b"),
    _kw("aws_secret_access_key", r"aws[_-]?secret[_-]?(?:access[_-]?)?key|secret[_-]?access[_-]?key",
        r"[A-Za-z0-9/+]{40}", 0.95),
    _kw("aws_session_token", r"aws[_-]?session[_-]?token", r"[A-Za-z0-9/+=]{100,}", 0.9),
    _s("aws_mws_key", r"\bamzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"),
    _s("gcp_api_key", r"\bAIza[0-9A-Za-z_-]{34}" + _TAIL, 0.9),
    _s("gcp_oauth_client_secret", r"\bGOCSPX-[A-Za-z0-9_-]{27}" + _TAIL),
    _s("gcp_service_account_key", r"\"private_key_id\"\s*:\s*\"([a-f0-9]{40})\"", 0.95),
    _s("google_oauth_refresh_token", r"\b1//0[A-Za-z0-9_-]{59,199}" + _TAIL, 0.8),
    _s("google_oauth_access_token", r"\bya29\.[A-Za-z0-9_-]{29,299}" + _TAIL, 0.9),
    _s("azure_storage_account_key", r"(?i)AccountKey=([A-Za-z0-9+/]{86}==)"),
    _s("azure_sas_token", r"(?i)[?&]sig=([A-Za-z0-9%+/]{43,100}(?:%3D|=){0,2})", 0.85),
    _s("azure_ad_client_secret", r"(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.-]|$)",
       0.9),
    _s("azure_devops_pat", _keys(r"ado|azure[_-]?devops|azdo|vsts") + "(?i:" + _ASSIGN + r")([a-z2-7]{52})\b", 0.85),
    _s("azure_cosmosdb_key", _keys(r"cosmos|documentdb") + "(?i:" + _ASSIGN + r")([A-Za-z0-9+/]{86}==)", 0.9),
    _s("digitalocean_pat", r"\bdop_v1_[a-f0-9]{64}\b"),
    _s("digitalocean_oauth_token", r"\bdoo_v1_[a-f0-9]{64}\b"),
    _s("digitalocean_refresh_token", r"\bdor_v1_[a-f0-9]{64}\b"),
    _s("alibaba_access_key_id", r"\bLTAI[A-Za-z0-9]{20}\b", 0.9),
    _kw("alibaba_secret_key", r"alibaba|aliyun", r"[A-Za-z0-9]{30}", 0.85),
    _kw("ibm_cloud_api_key", r"ibm[_-]?(?:cloud)?[_-]?api[_-]?key", r"[A-Za-z0-9_-]{44}", 0.85),
    _s("oracle_oci_ocid_key", r"\bocid1\.credential\.oc1\.[a-z0-9.-]{20,120}\b", 0.8),
    _s("cloudflare_origin_ca_key", r"\bv1\.0-[a-f0-9]{24}-[a-f0-9]{146}\b"),
    _kw("cloudflare_api_token", r"cloudflare|cf[_-]api", r"[A-Za-z0-9_-]{40}", 0.85),
    _kw("fastly_api_token", r"fastly", r"[A-Za-z0-9_-]{32}", 0.85),
    _kw("heroku_api_key", r"heroku", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", 0.85),
    _kw("netlify_token", r"netlify", r"[A-Za-z0-9_-]{40,46}", 0.85),
    _kw("vercel_token", r"vercel", r"[A-Za-z0-9]{24}", 0.85),
    _s("fly_io_token", r"\bFlyV1 fm\d_[A-Za-z0-9+/=_-]{100,}"),
    _kw("linode_token", r"linode", r"[a-f0-9]{64}", 0.85),
    _s("scaleway_secret_key", _keys(r"scw[_-]?secret[_-]?key") + "(?i:" + _ASSIGN + r")([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"),
    _s("terraform_cloud_token", r"\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70}\b"),
    _s("hashicorp_vault_token", r"\bhvs\.[A-Za-z0-9_-]{89,399}" + _TAIL),
    _s("hashicorp_vault_batch_token", r"\bhvb\.[A-Za-z0-9_-]{137,599}" + _TAIL),
    _s("hashicorp_vault_legacy_token", _keys(r"vault[_-]?token") + "(?i:" + _ASSIGN + r")(s\.[A-Za-z0-9]{24})\b", 0.9),
    _s("doppler_token", r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}\b"),
    _s("pulumi_access_token", r"\bpul-[a-f0-9]{40}\b"),
    _s("infracost_api_token", r"\bico-[A-Za-z0-9]{32}\b"),
    _s("planetscale_token", r"\bpscale_(?:tkn|oauth|pw)_[A-Za-z0-9_.=-]{32,64}\b"),
    _s("supabase_service_key", r"\bsbp_[a-f0-9]{40}\b"),
    # --- source control, registries and CI -----------------------------------------------
    _s("github_pat", r"\bghp_[A-Za-z0-9]{36}\b"),
    _s("github_oauth_token", r"\bgho_[A-Za-z0-9]{36}\b"),
    _s("github_user_to_server_token", r"\bghu_[A-Za-z0-9]{36}\b"),
    _s("github_server_to_server_token", r"\bghs_[A-Za-z0-9]{36}\b"),
    _s("github_refresh_token", r"\bghr_[A-Za-z0-9]{36,76}\b"),
    _s("github_fine_grained_pat", r"\bgithub_pat_[A-Za-z0-9_]{82}\b"),
    # GitLab: https://docs.gitlab.com/ee/security/tokens/#token-prefixes; routable tokens end in `.<2><7>`
    _s("gitlab_pat", r"\bglpat-[A-Za-z0-9_-]{19,299}" + _TAIL + r"(?:\.[0-9a-z]{9}\b)?"),
    _s("gitlab_pipeline_trigger_token", r"\bglptt-[a-f0-9]{40}\b"),
    _s("gitlab_runner_registration_token", r"\bGR1348941[A-Za-z0-9_-]{19}" + _TAIL),
    _s("gitlab_runner_token", r"\bglrt-[A-Za-z0-9_-]{19,299}" + _TAIL + r"(?:\.[0-9a-z]{9}\b)?"),
    _s("gitlab_deploy_token", r"\bgldt-[A-Za-z0-9_-]{19,63}" + _TAIL),
    _s("gitlab_cicd_job_token", r"\bglcbt-[A-Za-z0-9_-]{1,5}_[A-Za-z0-9_-]{19}" + _TAIL),
    _s("gitlab_feed_token", r"\bglft-[A-Za-z0-9_-]{19,63}" + _TAIL),
    _s("gitlab_scim_token", r"\bglsoat-[A-Za-z0-9_-]{19,63}" + _TAIL),
    _s("gitlab_incoming_mail_token", r"\bglimt-[A-Za-z0-9_-]{24,63}" + _TAIL),
    _s("gitlab_kubernetes_agent_token", r"\bglagent-[A-Za-z0-9_-]{49,99}" + _TAIL),
    _s("gitlab_oauth_app_secret", r"\bgloas-[A-Za-z0-9_-]{63,99}" + _TAIL),
    _s("gitlab_feature_flag_client_token", r"\bglffct-[A-Za-z0-9_-]{19,63}" + _TAIL),
    _s("gitlab_session_cookie", r"\b_gitlab_session=([0-9a-z]{32})\b", 0.9),
    _kw("bitbucket_app_password", r"bitbucket", r"ATBB[A-Za-z0-9_=.-]{28,100}", 0.95),
    _s("npm_access_token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    _s("npmrc_auth_token", r"(?i):_auth(?:Token)?[ \t]*=[ \t]*[\"']?([^\s'\"]{8,512})", 0.85),
    _s("pypi_upload_token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    _s("rubygems_api_key", r"\brubygems_[a-f0-9]{48}\b"),
    _s("nuget_api_key", r"\boy2[a-z0-9]{43}\b", 0.8),
    _s("nuget_config_password", r"(?i)<add[ \t]+key=[\"'](?:ClearText)?Password[\"'][ \t]+value=[\"']([^\"']{6,256})[\"']", 0.9),
    _s("dockerhub_pat", r"\bdckr_pat_[A-Za-z0-9_-]{26}" + _TAIL),
    _s("jfrog_api_key", r"\bAKCp[A-Za-z0-9]{69}\b", 0.9),
    _kw("jfrog_api_key_assignment", r"jfrog|artifactory|bintray|xray", r"[A-Za-z0-9]{73}", 0.85, etype="JFROG_API_KEY"),
    _kw("jfrog_identity_token", r"jfrog|artifactory|bintray|xray", r"[A-Za-z0-9]{64}", 0.85),
    _s("artifactory_reference_token", r"\bcmVmd[A-Za-z0-9]{59}\b", 0.9),
    _s("clojars_token", r"(?i)\bCLOJARS_[a-z0-9]{60}\b"),
    _s("buildkite_agent_token", r"\bbkua_[a-f0-9]{40}\b"),
    _kw("circleci_token", r"circle[_-]?(?:ci)?[_-]?token", r"[a-f0-9]{40}", 0.85),
    _kw("travis_ci_token", r"travis", r"[A-Za-z0-9]{22}", 0.85),
    _kw("codecov_token", r"codecov", r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}", 0.85),
    _s("sonarqube_token", r"\bsq[pua]_[a-f0-9]{40}\b"),
    _kw("snyk_token", r"snyk", r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}", 0.85),
    _s("octopus_deploy_api_key", r"\bAPI-[A-Z0-9]{26}\b", 0.8),
    _s("sourcegraph_access_token", r"\bsgp_(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40}\b"),
    _s("sidekiq_secret", r"(?i)\bBUNDLE_(?:ENTERPRISE|GEMS)__CONTRIBSYS__COM[ \t]*[=:][ \t'\"]{0,3}([a-f0-9]{8}:[a-f0-9]{8})\b", 0.95),
    _s("sidekiq_sensitive_url", r"(?i)\bhttps?://[a-f0-9]{8}:([a-f0-9]{8})@(?:gems|enterprise)\.contribsys\.com\b", 0.95),
    # --- observability and SaaS -------------------------------------------------------------
    _s("sentry_org_token", r"\bsntrys_eyJ[A-Za-z0-9+/=_-]{50,}"),
    _s("sentry_user_token", r"\bsntryu_[a-f0-9]{64}\b"),
    _s("grafana_cloud_token", r"\bglc_[A-Za-z0-9+/]{32,400}={0,2}"),
    _s("grafana_service_account_token", r"\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b"),
    _s("newrelic_user_api_key", r"\bNRAK-[A-Z0-9]{27}\b"),
    _s("newrelic_browser_key", r"\bNRJS-[a-f0-9]{19}\b"),
    _s("newrelic_insert_key", r"\bNRII-[A-Za-z0-9_-]{31}" + _TAIL),
    _kw("datadog_api_key", r"datadog|dd[_-]api[_-]key|dd[_-]app[_-]key", r"[a-f0-9]{32,40}", 0.85),
    _s("dynatrace_api_token", r"\bdt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}\b"),
    _kw("honeycomb_api_key", r"honeycomb", r"[A-Za-z0-9]{22,32}", 0.85),
    _s("postman_api_key", r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b"),
    _s("readme_api_key", r"\brdme_[a-z0-9]{70}\b"),
    _s("atlassian_api_token", r"\bATATT3[A-Za-z0-9_=-]{180,200}\b"),
    _s("linear_api_key", r"\blin_api_[A-Za-z0-9]{40}\b"),
    _s("notion_token", r"\b(?:secret_[A-Za-z0-9]{43}|ntn_[0-9]{11}[A-Za-z0-9]{35})\b", 0.9),
    _s("airtable_pat", r"\bpat[A-Za-z0-9]{14}\.[a-f0-9]{64}\b"),
    # Asana PATs: `1/<gid>:<32 hex>` (v1) and `2/<gid>/<gid>:<32 hex>` (v2); the shape is distinctive alone
    _s("asana_token", r"\b[12]/\d{10,20}(?:/\d{10,20})?:[0-9a-f]{32}\b", 0.85),
    _kw("asana_client_secret", r"asana", r"[A-Za-z0-9]{32}", 0.8),
    _s("figma_pat", r"\bfigd_[A-Za-z0-9_-]{39}" + _TAIL),
    _s("typeform_token", r"\btfp_[A-Za-z0-9_.=-]{59}\b"),
    _s("shopify_access_token", r"\bshpat_[a-fA-F0-9]{32}\b"),
    _s("shopify_custom_app_token", r"\bshpca_[a-fA-F0-9]{32}\b"),
    _s("shopify_private_app_token", r"\bshppa_[a-fA-F0-9]{32}\b"),
    _s("shopify_shared_secret", r"\bshpss_[a-fA-F0-9]{32}\b"),
    _s("hubspot_private_app_token", r"\bpat-(?:na|eu)1-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}\b"),
    _s("mailchimp_api_key", r"\b[a-f0-9]{32}-us\d{1,2}\b", 0.85),
    _kw("mailgun_api_key", r"mailgun", r"key-[a-f0-9]{32}|[a-f0-9]{32}-[a-f0-9]{8}-[a-f0-9]{8}", 0.9),
    _s("sendgrid_api_key", r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{42}" + _TAIL),
    _s("brevo_api_key", r"\bxkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}\b"),
    _kw("postmark_server_token", r"postmark", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", 0.85),
    _s("twilio_api_key", r"\bSK[0-9a-fA-F]{32}\b", 0.8),
    _kw("twilio_auth_token", r"twilio[_-]?auth[_-]?token", r"[a-f0-9]{32}", 0.9),
    _s("mapbox_secret_token", r"\bsk\.eyJ[A-Za-z0-9_-]{50,}\.[A-Za-z0-9_-]{20,}"),
    _kw("algolia_admin_key", r"algolia", r"[a-f0-9]{32}", 0.85),
    _kw("okta_api_token", r"okta", r"00[A-Za-z0-9_-]{40}", 0.9),
    _kw("auth0_client_secret", r"auth0", r"[A-Za-z0-9_-]{64}", 0.85),
    _s("contentful_delivery_token", _keys(r"contentful") + "(?i:" + _ASSIGN + r")([A-Za-z0-9_=-]{43})\b", 0.85),
    _kw("zendesk_api_token", r"zendesk", r"[A-Za-z0-9]{40}", 0.85),
    _kw("intercom_access_token", r"intercom", r"dG9rOj[A-Za-z0-9_=-]{50,70}", 0.9),
    _kw("sumologic_access_id", r"sumo(?:[_-]?logic)?[_.-]?access[_-]?id", r"su[A-Za-z0-9]{12}", 0.85),
    _kw("sumologic_access_token", r"sumo(?:[_-]?logic)?", r"[A-Za-z0-9]{64}", 0.85),
    _s("adobe_client_secret", r"\bp8e-[A-Za-z0-9]{32}\b", 0.9),
    _kw("dropbox_api_secret", r"dropbox", r"[a-z0-9]{15}", 0.8),
    _s("dropbox_short_lived_token", r"(?:^|[^A-Za-z0-9_./+-])(sl\.(?:u\.)?[A-Za-z0-9_-]{129,999}" + _TAIL + r")(?:[^A-Za-z0-9_./+=-]|$)", 0.85),
    _kw("dropbox_long_lived_token", r"dropbox", r"[a-z0-9]{11}AAAAAAAAAA[a-z0-9_=-]{43}", 0.9),
    _s("onepassword_service_account_token", r"\bops_eyJ[A-Za-z0-9+/]{250,}={0,3}", 0.95),
    _s("onepassword_secret_key", r"\bA3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}\b", 0.9),
    # --- payment -------------------------------------------------------------------------
    _s("stripe_secret_key", r"\bsk_live_[A-Za-z0-9]{24,99}\b", 0.99),
    _s("stripe_restricted_key", r"\brk_live_[A-Za-z0-9]{24,99}\b", 0.99),
    _s("stripe_test_secret_key", r"\bsk_test_[A-Za-z0-9]{24,99}\b", 0.8),
    _s("stripe_webhook_secret", r"\bwhsec_[A-Za-z0-9+/]{32,}\b"),
    _s("square_access_token", r"\b(?:sq0atp-[A-Za-z0-9_-]{22}|EAAA[A-Za-z0-9_-]{60})\b"),
    _s("square_oauth_secret", r"\bsq0csp-[A-Za-z0-9_-]{42}" + _TAIL),
    _s("braintree_access_token", r"\baccess_token\$(?:production|sandbox)\$[a-z0-9]{16}\$[a-f0-9]{32}\b"),
    _kw("paypal_client_secret", r"paypal", r"E[A-Za-z0-9_-]{79}", 0.85),
    _s("razorpay_key", r"\brzp_(?:live|test)_[A-Za-z0-9]{14}\b"),
    _s("flutterwave_secret_key", r"\bFLWSECK(?:_TEST)?-[a-h0-9]{32}-X\b"),
    _s("plaid_access_token", r"\baccess-(?:sandbox|development|production)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"),
    _s("gocardless_access_token", r"\blive_[A-Za-z0-9_=-]{40}\b", 0.8),
    _s("shippo_api_token", r"\bshippo_(?:live|test)_[a-f0-9]{40}\b"),
    _s("easypost_api_key", r"\bEZ[AT]K[A-Za-z0-9]{54}\b"),
    _s("duffel_api_token", r"\bduffel_(?:test|live)_[A-Za-z0-9_=-]{43}\b"),
    _kw("adyen_api_key", r"adyen", r"AQE[A-Za-z0-9_+/=.-]{60,200}", 0.9),
    _kw("coinbase_api_secret", r"coinbase", r"[A-Za-z0-9+/]{32,88}={0,2}", 0.8),
    # --- chat and webhooks -------------------------------------------------------------------
    _s("slack_bot_token", r"\bxoxb-\d{10,13}-\d{10,13}[A-Za-z0-9-]{0,40}\b"),
    _s("slack_user_token", r"\bxox[pe](?:-\d{10,13}){3}-[A-Za-z0-9-]{28,34}\b"),
    _s("slack_legacy_token", r"\bxox[ar]-(?:\d-)?[0-9A-Za-z]{8,48}\b", 0.9),
    _s("slack_app_token", r"(?i)\bxapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+\b"),
    _s("slack_config_token", r"\bxoxe\.xox[bp]-\d-[A-Z0-9]{163,166}\b"),
    _s("slack_webhook_url", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{40,60}"),
    _s("discord_webhook_url", r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/[A-Za-z0-9_-]{60,68}"),
    # a whole dotted token, not three parts of a longer dotted string (the edges exclude '.' and '-')
    _s("discord_bot_token", r"(?:^|[^A-Za-z0-9_.-])([MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38})(?:[^A-Za-z0-9_.-]|$)", 0.85),
    _kw("discord_client_secret", r"discord", r"[A-Za-z0-9_-]{32}", 0.8),
    # bot id, ':', 35 characters from 'A'; also inside https://api.telegram.org/bot<token>/
    _s("telegram_bot_token", r"(?:^|[^A-Za-z0-9_]|bot)(\d{5,16}:A[A-Za-z0-9_-]{33}" + _TAIL + ")"),
    _s("msteams_webhook_url", r"https://[A-Za-z0-9-]+\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/-]{40,300}"),
    _s("mattermost_token", _keys(r"mattermost") + "(?i:" + _ASSIGN + r")([a-z0-9]{26})\b", 0.85),
    _s("zapier_webhook_url", r"https://hooks\.zapier\.com/hooks/catch/\d+/[A-Za-z0-9]+/?"),
    _kw("twitch_client_secret", r"twitch", r"[a-z0-9]{30}", 0.85),
    _kw("twitter_bearer_token", r"twitter|x[_-]bearer", r"A{22}[A-Za-z0-9%]{80,120}", 0.9),
    _s("facebook_access_token", r"\bEAA[MC][A-Za-z0-9]{100,}\b", 0.85),
    _kw("facebook_app_secret", r"facebook|fb[_-]?app[_-]?secret|fb[_-]?secret", r"[a-f0-9]{32}", 0.85),
    _kw("linkedin_client_secret", r"linked[_-]?in", r"[A-Za-z0-9]{16}", 0.8),
    # --- AI providers --------------------------------------------------------------------
    _s("openai_api_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,200}T3BlbkFJ[A-Za-z0-9_-]{15,199}" + _TAIL, 0.99),
    _s("openai_project_key", r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{47,199}" + _TAIL, 0.9),
    _s("anthropic_api_key", r"\bsk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{93}AA\b", 0.99),
    _s("huggingface_token", r"\bhf_[A-Za-z]{34}\b"),
    _s("huggingface_org_token", r"\bapi_org_[A-Za-z]{34}\b"),
    _s("replicate_api_token", r"\br8_[A-Za-z0-9]{37}\b"),
    _s("groq_api_key", r"\bgsk_[A-Za-z0-9]{52}\b"),
    _s("perplexity_api_key", r"\bpplx-[A-Za-z0-9]{48}\b"),
    _s("xai_api_key", r"\bxai-[A-Za-z0-9]{80}\b"),
    _s("langsmith_api_key", r"\blsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}\b"),
    _s("pinecone_api_key", r"\bpcsk_[A-Za-z0-9_]{50,100}\b"),
    _kw("cohere_api_key", r"cohere|co[_-]api[_-]key", r"[A-Za-z0-9]{40}", 0.85),
    _kw("mistral_api_key", r"mistral", r"[A-Za-z0-9]{32}", 0.85),
    _kw("wandb_api_key", r"wandb|weights[_-]?and[_-]?biases", r"[a-f0-9]{40}", 0.85),
    _kw("deepseek_api_key", r"deepseek", r"sk-[a-f0-9]{32}", 0.9),
    # --- keys and tokens ------------------------------------------------------------------
    _s("private_key_rsa", r"-----BEGIN RSA PRIVATE KEY-----" + _PEM_BODY + r"-----END RSA PRIVATE KEY-----", 0.99),
    _s("private_key_ec", r"-----BEGIN EC PRIVATE KEY-----" + _PEM_BODY + r"-----END EC PRIVATE KEY-----", 0.99),
    _s("private_key_dsa", r"-----BEGIN DSA PRIVATE KEY-----" + _PEM_BODY + r"-----END DSA PRIVATE KEY-----", 0.99),
    _s("private_key_pkcs8", r"-----BEGIN PRIVATE KEY-----" + _PEM_BODY + r"-----END PRIVATE KEY-----", 0.99),
    _s("private_key_encrypted", r"-----BEGIN ENCRYPTED PRIVATE KEY-----" + _PEM_BODY
       + r"-----END ENCRYPTED PRIVATE KEY-----", 0.9),
    _s("private_key_openssh", r"-----BEGIN OPENSSH PRIVATE KEY-----" + _PEM_BODY
       + r"-----END OPENSSH PRIVATE KEY-----", 0.99),
    _s("private_key_pgp", r"-----BEGIN PGP PRIVATE KEY BLOCK-----" + r"[A-Za-z0-9+/=\s:,.()@<>\\-]{64,}?"
       + r"-----END PGP PRIVATE KEY BLOCK-----", 0.99),
    # the header alone: a key whose body is cut, broken or elided is still a key that leaked
    # (a line break, then body or headers, so a regex or a sentence naming the marker is not a key)
    _s("private_key_header", r"-----BEGIN(?: [A-Z0-9]{2,12}){0,3} PRIVATE KEY(?: BLOCK)?-----[ \t]*(?:\r?\n|\\r?\\n)(?:[ \t]*(?:\r?\n|\\r?\\n))*(?:[A-Za-z0-9+/=]{16}|Proc-Type:|Comment:|Version:|-----END )", 0.9),
    _s("private_key_putty", r"PuTTY-User-Key-File-[23]: [a-z0-9-]+\s+Encryption: [a-z0-9-]+", 0.95),
    _s("age_secret_key", r"\bAGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}\b"),
    _s("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{7,}" + _TAIL, 0.9, validator="jwt"),
    # a JWT wrapped in base64 once more (Kubernetes secrets, CI variables): "eyJ" encodes to "ZXlK"
    _s("jwt_base64", r"\bZXlK[A-Za-z0-9+/]{40,}={0,2}", 0.9, etype="JWT"),
    # --- connection strings ----------------------------------------------------------------
    _s("postgres_connection_string", r"(?i)\bpostgres(?:ql)?(?:\+[a-z0-9]+)?://[^\s:/@'\"]{1,128}:([^\s@/'\"]{1,256})@[^\s/'\"]+", 0.95),
    _s("mysql_connection_string", r"(?i)\b(?:mysql|mariadb)(?:\+[a-z0-9]+)?://[^\s:/@'\"]{1,128}:([^\s@/'\"]{1,256})@[^\s/'\"]+", 0.95),
    _s("mongodb_connection_string", r"(?i)\bmongodb(?:\+srv)?://[^\s:/@'\"]{1,128}:([^\s@/'\"]{1,256})@[^\s/'\"]+", 0.95),
    _s("redis_connection_string", r"(?i)\brediss?://[^\s:/@'\"]{0,128}:([^\s@/'\"]{1,256})@[^\s/'\"]+", 0.95),
    _s("amqp_connection_string", r"(?i)\bamqps?://[^\s:/@'\"]{1,128}:([^\s@/'\"]{1,256})@[^\s/'\"]+", 0.95),
    _s("mssql_connection_string", r"(?i)\b(?:mssql|sqlserver)(?:\+[a-z0-9]+)?://[^\s:/@'\"]{1,128}:([^\s@/'\"]{1,256})@[^\s/'\"]+", 0.95),
    _s("jdbc_connection_password", r"(?i)\bjdbc:[a-z0-9]+:[^\s'\"]{0,256}?[;?&]password=([^;&\s'\"]{1,128})", 0.9),
    _s("ado_net_connection_string", r"(?i)(?:server|data source)=[^;'\"\n]{1,256};[^'\"\n]{0,512}?(?:password|pwd)=([^;'\"\s]{1,128})", 0.9),
    # any scheme (ssh, sftp, imaps, git+https, clickhouse, nats, ...): user:password@host is a credential
    _s("url_basic_auth", r"(?i)\b[a-z][a-z0-9+.-]{1,24}://[^\s:/@'\"]{1,128}:([^\s@/'\"]{3,256})@[A-Za-z0-9.-]+", 0.85),
    # `curl ... -u user:pass`, also on a continuation line (`\` at the end of the line before)
    _s("curl_basic_auth", r"\bcurl\b(?:[^\n\\]|\\[^\n]|\\\r?\n){0,512}?[ \t](?:-u|--user)(?:[ \t]+|=)[\"']?[^\s:'\"]{1,64}:([^\s'\"]{3,128})", 0.85),
    # --- generic ----------------------------------------------------------------------------
    _s("authorization_bearer", r"(?i)\bauthorization\s*[:=]\s*[\"']?bearer\s+([A-Za-z0-9_\-.=+/~]{20,})", 0.9,
       entropy=3.0),
    _s("authorization_basic", r"(?i)\bauthorization\s*[:=]\s*[\"']?basic\s+([A-Za-z0-9+/]{12,512}={0,2})", 0.85),
    _s("generic_password_assignment",
       _keys(_PASSWORD_KEYS) + "(?i:" + _ASSIGN + r")([^\s'\"\x60;,<]{8,128})", 0.75),
    # ("user", "p@ss") handed to an auth parameter or constructor
    _s("generic_password_tuple",
       _keys(r"auth|credentials?|creds|login|basic[_-]?auth|httpbasicauth|httpdigestauth|digestauth|userpass")
       + r"(?i:[\w.]{0,20}[ \t]*(?:=|:|\()[ \t]*[(\[]?[ \t]*[\"'][^\"'\s]{1,64}[\"'][ \t]*,[ \t]*)[\"']([^\"'\s]{6,128})[\"']",
       0.75, etype="GENERIC_PASSWORD_ASSIGNMENT"),
    # XML elements: <password>...</password>, <DbPassword>...</DbPassword>
    _s("generic_password_xml", r"<[\w.:-]{0,30}?(?i:" + _PASSWORD_KEYS + r")[\w.-]{0,25}>([^<\s]{6,128})</", 0.75,
       etype="GENERIC_PASSWORD_ASSIGNMENT"),
    _s("generic_secret_xml", r"<[\w.:-]{0,30}?(?i:" + _SECRET_KEYS + r")[\w.-]{0,25}>([^<\s]{8,256})</", 0.7,
       etype="GENERIC_SECRET_ASSIGNMENT"),
    _s("generic_secret_assignment",
       _keys(_SECRET_KEYS) + "(?i:" + _ASSIGN + r")([A-Za-z0-9_\-+/=.~]{16,256})", 0.7),
    # a quoted value may be short and hold any symbol (Django's SECRET_KEY alphabet, `x7!Kp2#rQ9`)
    _s("generic_secret_quoted",
       _keys(_SECRET_KEYS) + "(?i:" + _ASSIGN_TO_QUOTE + r")[\"'\x60]([^\"'\x60\s]{8,256})[\"'\x60]", 0.7,
       etype="GENERIC_SECRET_ASSIGNMENT"),
)  # fmt: skip


# --- per-hit checks ----------------------------------------------------------------------------
# A check gets (text, start, end, floor): the value is text[start:end] and `floor` is where
# the hit's own cell (or the text) begins. It returns None to drop the hit, or a note for
# the explanation ("" for none). The engine runs it after the pattern's validator/entropy.
SecretCheck = Callable[[str, int, int, int], "str | None"]

_PLACEHOLDER_MARKS = ("example", "placeholder", "changeme", "change_me", "change-me", "redacted", "dummy",
                      "replace_me", "replaceme", "insert_", "sample")  # fmt: skip
_SHORT_MARKS = ("xxxx", "****", "<", ">", "${", "{{", "}}")  # only judged on short values
# `your`/`todo` only as a word or glued to a secret word: four random letters spell them now and then
_WORD_MARKS = re.compile(r"(?i)(?:^|[^a-z])(?:your|todo)|your[-_]?(?:api|app|key|token|secret|pass|client)")
_FILLER_RUN = re.compile(r"([0xX*#.])\1{7}")
_SEPARATORS = re.compile(r"[\s_\-.:/\\]+")

# words that end a key naming *where* a secret is or *what* it is like, not the secret itself
_REFERENCE_KEY_WORDS = frozenset({
    "id", "ids", "name", "names", "arn", "ref", "refs", "reference", "path", "paths", "file", "files", "filename",
    "dir", "url", "uri", "urls", "endpoint", "env", "var", "variable", "type", "length", "len", "size", "policy",
    "field", "fields", "label", "header", "param", "prefix", "suffix", "expiry", "expires", "expiration", "ttl",
    "timeout", "version", "count", "regex", "pattern", "hint", "format", "mode", "enabled", "required", "min",
    "max", "location", "source", "provider", "template", "description", "desc", "help", "prompt", "message",
    "error", "store", "manager",
})  # fmt: skip
_KEY_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_NAME = re.compile(r"[A-Za-z_$@][\w$@.:-]*")
_SECRETISH = re.compile(r"(?i)pass|pwd|secret|token|key|credential|auth")
# a key word that *is* a secret word, maybe glued to a qualifier (`dbpassword`, `apikey`); not `passive`, `tokenizer`
_PASSWORD_WORD = re.compile(r"[a-z]{0,12}(?:password|passwd|passphrase|pwd|pass)")
_SECRET_WORD = re.compile(r"[a-z]{0,12}(?:secret|secrets|token|tokens|key|keys|credential|credentials|creds)")
_REFERENCE_PREFIXES = ("enc[", "arn:", "vault:", "op://", "ref+", "secretref:", "sm://", "akv://", "{{", "${",
                       "$(", "#{", "<%", "%(", "!vault", "!secret", "secret://", "awskms:", "gcpkms:")  # fmt: skip
_SHELL_VAR = re.compile(r"\$[A-Za-z_{(][\w{}().:-]*")
_WINDOWS_VAR = re.compile(r"%[A-Za-z_][\w.-]*%")
_TEMPLATE_FIELD = re.compile(r"\{[^{}\s]+\}")  # f-string / str.format fields: `{password!r}`, `{b64(self.secret)}`
# `password: HiddenText | None` is a type; `password: Optional ...` (a docstring) is prose
_TYPE_NAME = re.compile(r"_?[A-Z][a-z]+(?:[A-Z][a-z0-9]*)*")
_BRACKET_PLACEHOLDER = re.compile(r"[\[(][:A-Za-z_ -]+[\])]")  # `[PASSWORD]`, `host[:port]`, `(whatever)`
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_NAMED_SECRET = re.compile(r"password|passwd|secret|secrets|token|tokens|key|keys|credential|credentials")
_NAMED_SECRET_ANYWHERE = re.compile(r"(?i)passw|secret|token|key|credential")  # a quick exit before the split
_CLOSERS = ")]},;"
# a first key word that makes the key a setting *about* the secret (`hide_password`, `is_token_valid`)
_SETTING_VERBS = frozenset({
    "hide", "show", "is", "has", "use", "uses", "require", "requires", "enable", "disable", "allow", "reset",
    "forgot", "validate", "check", "verify", "ask", "prompt", "no", "with", "without", "render", "mask",
    "redact", "include", "get", "set", "load", "read", "print", "log", "min", "max", "generate", "rotate",
})  # fmt: skip
_CALL_OR_INDEX = re.compile(r"[A-Za-z_][\w.]*[(\[]")
_DOTTED_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_QUOTED_REFERENCE = re.compile(
    r"(?:var|local|module|data|secrets|env|vars|inputs|settings|config|process\.env|os\.environ)\.[\w.]+"
)
_PLACEHOLDER_PASSWORDS = frozenset({
    "password", "passwd", "pass", "pwd", "secret", "changeme", "changeit", "test", "token", "admin", "root",
    "guest", "anonymous", "user", "username", "xxx", "mypassword", "yourpassword", "pw", "foo", "bar", "foobar",
    "dbpass", "dbpassword", "mysecretpassword", "tiger", "s3cr3t", "p4ssw0rd", "letmein", "qwerty", "default",
    "none", "null", "true", "false",
})  # fmt: skip
_HEX = re.compile(r"[0-9a-fA-F]+")
_ESCAPED_BREAK = re.compile(r"\\+[nrt]")  # `\n` as written inside a string literal (or escaped twice)


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character (kept here: the engine imports this module)."""
    n = len(value)
    if not n:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


_LOWER = re.compile(r"[a-z]")
_UPPER = re.compile(r"[A-Z]")
_DIGIT = re.compile(r"[0-9]")
_SYMBOL = re.compile(r"[^A-Za-z0-9\-_./\\:]")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")


def _classes(value: str) -> int:
    """Character classes present (lower, upper, digit, symbol); `- _ . /` separate words, so they do not count."""
    return sum(rx.search(value) is not None for rx in (_LOWER, _UPPER, _DIGIT, _SYMBOL))


def is_filler(value: str) -> bool:
    """A value that only has the shape of a secret: placeholder words, runs of one filler character.

    Judged on the longest separator-free part too, so a token prefix (`ghp_`, `sk_live_`) does
    not make `ghp_000...` look varied. Short markers (`xxxx`, `your`) are only judged on values
    up to 100 characters: in a long random body (a PEM key) four letters occur by chance.
    """
    low = value.lower()
    if any(m in low for m in _PLACEHOLDER_MARKS):
        return True
    if len(value) <= 100 and (any(m in low for m in _SHORT_MARKS) or _WORD_MARKS.search(value)):
        return True
    if _FILLER_RUN.search(value) or _BRACKET_PLACEHOLDER.search(value):
        return True
    if len(_NON_ALNUM.findall(value)) * 2 > len(value):  # `glpat-------...`: mostly separators
        return True
    core = max(_SEPARATORS.split(value), key=len)
    return len(core) >= 8 and len(set(core.lower())) < 4


def _key_before(text: str, start: int, floor: int) -> str:
    """The key name a value is assigned to: the last name on its line (inside its cell) that reads like one."""
    line = max(text.rfind("\n", floor, start) + 1, floor, start - 160)
    names = _NAME.findall(text, line, start)
    for name in reversed(names):
        if _SECRETISH.search(name):
            return name
    return names[-1] if names else ""


def names_a_secret(key: str, word: re.Pattern[str]) -> bool:
    """The key holds a whole secret word: `dbPassword`, `API_KEY`; not `PassiveAggressive`, `tokenizer.json`.

    The regex finds the keyword at the start of a word but cannot see where that word
    ends (no look-ahead), so the word is checked here, on the last dotted part of the key
    (`config.password` yes, `PQchangePassword.restype` no).
    """
    return any(word.fullmatch(w.lower()) for w in _KEY_WORD.findall(key.rsplit(".", 1)[-1]))


def _comma_not_a_pair(text: str, start: int, end: int, floor: int) -> bool:
    """`f(password, other)`, `Token, "Type"`, `("password", salt, 16, ...)`: a comma that joins arguments.

    `("password", "p@ss")` and `["api_key", "..."]` are key/value pairs: both quoted, and
    the pair closes right after the value. A bare name before the comma, a bare value
    after it, or more items after the value (a test-vector row) is an argument list.
    """
    i = start - 1
    while i >= floor and text[i] in " \t'\"`":
        i -= 1
    if i < floor or text[i] != ",":
        return False
    if not _quoted(text, start, floor):
        return True
    i -= 1
    while i >= floor and text[i] in " \t":
        i -= 1
    if i < floor or text[i] not in "'\"`":
        return True
    j = end + 1  # past the closing quote
    while j < len(text) and text[j] in " \t":
        j += 1
    return j < len(text) and text[j] not in ")]}"


def _is_code_name(value: str) -> bool:
    """An identifier made of words that names a secret (`challengePassword`, `SSHPrivateKeyTypes`).

    Enum values, type annotations and attribute names mention the secret word; a secret
    value does not, and random tokens almost always hold a digit.
    """
    value = value.rstrip("=:")  # `"DROPBOX_APP_SECRET="`: a key being written out, not its value
    if not _IDENTIFIER.fullmatch(value) or not _NAMED_SECRET_ANYWHERE.search(value):
        return False
    words = _KEY_WORD.findall(value)
    if _DIGIT.search(value) and sum(w.isalpha() and len(w) >= 3 for w in words) < 3:
        return False  # `PKCS7PrivateKeyTypes` is still a name; `h7Gk2pQx9...` splits into no such words
    return any(_NAMED_SECRET.fullmatch(w.lower()) for w in words)


def is_reference_key(key: str) -> bool:
    """`credentialsId`, `secret_name`, `hide_password`: keys that name where a secret lives or a setting about it."""
    segment = key.rsplit(".", 1)[-1]
    words = [w.lower() for w in _KEY_WORD.findall(segment)]
    return bool(words) and (words[-1] in _REFERENCE_KEY_WORDS or (len(words) > 1 and words[0] in _SETTING_VERBS))


def is_placeholder_password(value: str) -> bool:
    """`password`, `changeme`, `password1`, `tiger`: sample credentials, also with trailing digits."""
    low = value.lower()
    return low in _PLACEHOLDER_PASSWORDS or low.rstrip("0123456789!") in _PLACEHOLDER_PASSWORDS or len(value) < 3


def is_reference(value: str, quoted: bool) -> bool:
    """A value that points at a secret instead of holding it (variables, lookups, encrypted envelopes).

    Unquoted, a call, an index or a dotted name (`os.environ[`, `getpass.getpass()`,
    `var.db_password`) is code, not a literal; quoted, only well-known lookup roots count.
    """
    low = value.lower()
    if low.startswith(_REFERENCE_PREFIXES) or "${" in value or "{{" in value:
        return True
    if _SHELL_VAR.fullmatch(value) or _WINDOWS_VAR.fullmatch(value) or _TEMPLATE_FIELD.fullmatch(value):
        return True
    if quoted:
        return bool(_QUOTED_REFERENCE.fullmatch(value))
    if value[:1] in ("[", "(", "{"):  # a list, tuple or dict literal: code, not a literal secret
        return True
    return bool(_CALL_OR_INDEX.match(value) or _DOTTED_PATH.fullmatch(value) or _TYPE_NAME.fullmatch(value))


def _quoted(text: str, start: int, floor: int) -> bool:
    return start > floor and text[start - 1] in "'\"`"


def _token_check(text: str, start: int, end: int, floor: int) -> str | None:
    """Provider tokens: the shape already matched; only fillers are dropped."""
    return None if is_filler(text[start:end]) else ""


def _telegram_check(text: str, start: int, end: int, floor: int) -> str | None:
    """A real bot secret is random: it has a digit, '_' or '-' (CamelCase words such as XSD type names do not)."""
    value = text[start:end]
    secret = value.partition(":")[2]
    if is_filler(secret) or not any(c.isdigit() or c in "_-" for c in secret[1:]):
        return None
    return ""


def _credential_check(text: str, start: int, end: int, floor: int) -> str | None:
    """Passwords in URLs, curl -u, tuples and config attributes: not a variable, a placeholder or a filler."""
    value = text[start:end]
    if is_placeholder_password(value) or is_filler(value) or is_reference(value, _quoted(text, start, floor)):
        return None
    if value.startswith(("$", "%")):  # `$1`, `%s`, `$PASS`: substitution, not a literal
        return None
    return ""


def _assignment_check(kind: str) -> SecretCheck:
    """The check for generic `key = value` hits: key name, reference, filler, then randomness.

    Randomness is judged for the alphabet the value uses: hex has at most 4 bits per
    character, so a 32-hex token is held to 3.0 bits, others to 3.5 (secrets) or 2.5
    (passwords, which people choose); a one-class value split by `-_./` is a slug or a
    path (`prod/db-credentials`), not a secret.
    """

    def check(text: str, start: int, end: int, floor: int) -> str | None:
        value = text[start:end]
        if _ESCAPED_BREAK.match(value):  # `"DB_PASSWORD=\\nDB_HOST=..."`: empty, then an escaped newline
            return None
        quoted = _quoted(text, start, floor)
        if not quoted:  # `password=password)`, `credentials.password}`: judge the name without its closers too
            bare = value.rstrip(_CLOSERS) or value
            if bare != value and (is_reference(bare, quoted) or is_placeholder_password(bare) or _is_code_name(bare)):
                return None
        if is_reference(value, quoted) or is_filler(value) or is_placeholder_password(value) or _is_code_name(value):
            return None
        if "://" in value or value.startswith(
            "//"
        ):  # a URL or a git-config key, not a secret (URL passwords have their own rule)
            return None
        key = _key_before(text, start, floor)
        if is_reference_key(key) or not names_a_secret(key, _PASSWORD_WORD if kind == "password" else _SECRET_WORD):
            return None
        if _comma_not_a_pair(text, start, end, floor):
            return None
        h = _entropy(value)
        classes = _classes(value)
        separated = _SEPARATORS.search(value) is not None
        if kind == "password":
            ok = h >= 2.5 and (classes >= 2 or (len(value) >= 12 and not separated))
        elif _HEX.fullmatch(value) and len(value) >= 16:
            ok = h >= 3.0 and classes >= 2
        elif value.isdigit():
            ok = False
        elif len(value) >= 16:
            ok = h >= 3.5 and (classes >= 2 or (len(value) >= 20 and not separated))
        else:  # short, quoted: must look chosen to be hard to guess
            ok = quoted and h >= 2.8 and classes >= 3
        return f"entropy={h:.2f}" if ok else None

    return check


def _jwt_base64_check(text: str, start: int, end: int, floor: int) -> str | None:
    """Decode once and require a JWT inside (header JSON with alg/typ), so other base64 is not reported."""
    raw = text[start:end]
    try:
        inner = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return "inner=jwt" if _jwt_shape(inner.strip()) else None


def _no_check(text: str, start: int, end: int, floor: int) -> str | None:
    return ""


_CHECKS_BY_NAME: dict[str, SecretCheck] = {
    "generic_password_assignment": _assignment_check("password"),
    "generic_secret_assignment": _assignment_check("secret"),
    "generic_secret_quoted": _assignment_check("secret"),
    "generic_password_xml": _assignment_check("password"),
    "generic_secret_xml": _assignment_check("secret"),
    "generic_password_tuple": _credential_check,
    "url_basic_auth": _credential_check,
    "curl_basic_auth": _credential_check,
    "nuget_config_password": _credential_check,
    "npmrc_auth_token": _credential_check,
    "jdbc_connection_password": _credential_check,
    "ado_net_connection_string": _credential_check,
    "postgres_connection_string": _credential_check,
    "mysql_connection_string": _credential_check,
    "mongodb_connection_string": _credential_check,
    "redis_connection_string": _credential_check,
    "amqp_connection_string": _credential_check,
    "mssql_connection_string": _credential_check,
    "telegram_bot_token": _telegram_check,
    "jwt_base64": _jwt_base64_check,
    "private_key_header": _no_check,
}

SECRET_CHECKS: Mapping[Pattern, SecretCheck] = {p: _CHECKS_BY_NAME.get(p.name, _token_check) for p in SECRET_PATTERNS}
"""The per-hit check of every built-in secret pattern (the engine looks its patterns up here)."""
