"""The built-in secret patterns (cloud, VCS, CI, payment, chat, AI, keys, connection strings).

Distinctive prefixes (``ghp_``, ``AKIA``, ``xoxb-``) are reported on shape alone.
Credentials without a prefix (a 32-hex Datadog key) are only reported when a
keyword assigns them (``datadog_api_key = ...``), the way gitleaks anchors its
generic rules; the keyword is part of the match and group 1 is the value.
"""

# ruff: noqa: E501  (regexes are data; splitting them hurts review)
from __future__ import annotations

from bastion.data._detect.model import Pattern

_ASSIGN = r"[\w.-]{0,25}[\s'\"]{0,3}(?:=|:|:=|=>|\|\|:|,)[\s'\"]{0,5}"


def _s(name: str, regex: str, score: float = 0.95, **kw: object) -> Pattern:
    kw.setdefault("validator", "not_placeholder")
    return Pattern(name=name, entity_type=name.upper(), regex=regex, score=score, kind="secret", **kw)  # type: ignore[arg-type]


def _kw(name: str, keywords: str, value: str, score: float = 0.85, entropy: float | None = 3.0) -> Pattern:
    """A keyword-anchored secret: `keywords` (alternation) then an assignment then the value."""
    return _s(name, rf"(?i)(?:{keywords}){_ASSIGN}({value})(?:[^A-Za-z0-9_]|$)", score, entropy=entropy)


_PEM_BODY = r"[A-Za-z0-9+/=\s:,-]{64,}?"

SECRET_PATTERNS: tuple[Pattern, ...] = (
    # --- cloud providers -------------------------------------------------------------------
    _s("aws_access_key_id", r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b"),
    _kw("aws_secret_access_key", r"aws[_-]?secret[_-]?(?:access[_-]?)?key|secret[_-]?access[_-]?key",
        r"[A-Za-z0-9/+]{40}", 0.95),
    _kw("aws_session_token", r"aws[_-]?session[_-]?token", r"[A-Za-z0-9/+=]{100,}", 0.9),
    _s("aws_mws_key", r"\bamzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"),
    _s("gcp_api_key", r"\bAIza[0-9A-Za-z_-]{35}\b", 0.9),
    _s("gcp_oauth_client_secret", r"\bGOCSPX-[A-Za-z0-9_-]{28}\b"),
    _s("gcp_service_account_key", r"\"private_key_id\"\s*:\s*\"([a-f0-9]{40})\"", 0.95),
    _s("google_oauth_refresh_token", r"\b1//0[A-Za-z0-9_-]{60,200}\b", 0.8),
    _s("google_oauth_access_token", r"\bya29\.[A-Za-z0-9_-]{30,300}\b", 0.9),
    _s("azure_storage_account_key", r"(?i)AccountKey=([A-Za-z0-9+/]{86}==)"),
    _s("azure_sas_token", r"(?i)[?&]sig=([A-Za-z0-9%+/]{43,100}(?:%3D|=){0,2})", 0.85),
    _s("azure_ad_client_secret", r"(?:^|[^A-Za-z0-9_~.-])([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?:[^A-Za-z0-9_~.-]|$)",
       0.9),
    _s("azure_devops_pat", r"(?i)(?:ado|azure[_-]?devops|azdo|vsts)" + _ASSIGN + r"([a-z2-7]{52})\b", 0.85),
    _s("azure_cosmosdb_key", r"(?i)(?:cosmos|documentdb)" + _ASSIGN + r"([A-Za-z0-9+/]{86}==)", 0.9),
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
    _s("scaleway_secret_key", r"(?i)scw[_-]?secret[_-]?key" + _ASSIGN + r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"),
    _s("terraform_cloud_token", r"\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70}\b"),
    _s("hashicorp_vault_token", r"\bhv[sb]\.[A-Za-z0-9_-]{90,120}\b"),
    _s("hashicorp_vault_legacy_token", r"(?i)vault[_-]?token" + _ASSIGN + r"(s\.[A-Za-z0-9]{24})\b", 0.9),
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
    _s("gitlab_pat", r"\bglpat-[A-Za-z0-9_-]{20,64}\b"),
    _s("gitlab_pipeline_trigger_token", r"\bglptt-[a-f0-9]{40}\b"),
    _s("gitlab_runner_registration_token", r"\bGR1348941[A-Za-z0-9_-]{20}\b"),
    _s("gitlab_runner_token", r"\bglrt-[A-Za-z0-9_-]{20,64}\b"),
    _s("gitlab_deploy_token", r"\bgldt-[A-Za-z0-9_-]{20}\b"),
    _s("gitlab_cicd_job_token", r"\bglcbt-[A-Za-z0-9_-]{1,5}_[A-Za-z0-9_-]{20}\b"),
    _s("gitlab_feed_token", r"\bglft-[A-Za-z0-9_-]{20}\b"),
    _s("gitlab_scim_token", r"\bglsoat-[A-Za-z0-9_-]{20}\b"),
    _kw("bitbucket_app_password", r"bitbucket", r"ATBB[A-Za-z0-9_=.-]{28,100}", 0.95),
    _s("npm_access_token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    _s("pypi_upload_token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    _s("rubygems_api_key", r"\brubygems_[a-f0-9]{48}\b"),
    _s("nuget_api_key", r"\boy2[a-z0-9]{43}\b", 0.8),
    _s("dockerhub_pat", r"\bdckr_pat_[A-Za-z0-9_-]{27}\b"),
    _s("jfrog_api_key", r"\bAKCp[A-Za-z0-9]{69}\b", 0.9),
    _s("jfrog_identity_token", r"\bcmVmdGtu[A-Za-z0-9]{56}\b", 0.9),
    _s("clojars_token", r"(?i)\bCLOJARS_[a-z0-9]{60}\b"),
    _s("buildkite_agent_token", r"\bbkua_[a-f0-9]{40}\b"),
    _kw("circleci_token", r"circle[_-]?(?:ci)?[_-]?token", r"[a-f0-9]{40}", 0.85),
    _kw("travis_ci_token", r"travis", r"[A-Za-z0-9]{22}", 0.85),
    _kw("codecov_token", r"codecov", r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}", 0.85),
    _s("sonarqube_token", r"\bsq[pua]_[a-f0-9]{40}\b"),
    _kw("snyk_token", r"snyk", r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}", 0.85),
    _s("octopus_deploy_api_key", r"\bAPI-[A-Z0-9]{26}\b", 0.8),
    # --- observability and SaaS -------------------------------------------------------------
    _s("sentry_org_token", r"\bsntrys_eyJ[A-Za-z0-9+/=_-]{50,}"),
    _s("sentry_user_token", r"\bsntryu_[a-f0-9]{64}\b"),
    _s("grafana_cloud_token", r"\bglc_[A-Za-z0-9+/]{32,400}={0,2}"),
    _s("grafana_service_account_token", r"\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b"),
    _s("newrelic_user_api_key", r"\bNRAK-[A-Z0-9]{27}\b"),
    _s("newrelic_browser_key", r"\bNRJS-[a-f0-9]{19}\b"),
    _s("newrelic_insert_key", r"\bNRII-[A-Za-z0-9_-]{32}\b"),
    _kw("datadog_api_key", r"datadog|dd[_-]api[_-]key|dd[_-]app[_-]key", r"[a-f0-9]{32,40}", 0.85),
    _s("dynatrace_api_token", r"\bdt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}\b"),
    _kw("honeycomb_api_key", r"honeycomb", r"[A-Za-z0-9]{22,32}", 0.85),
    _s("postman_api_key", r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b"),
    _s("readme_api_key", r"\brdme_[a-z0-9]{70}\b"),
    _s("atlassian_api_token", r"\bATATT3[A-Za-z0-9_=-]{180,200}\b"),
    _s("linear_api_key", r"\blin_api_[A-Za-z0-9]{40}\b"),
    _s("notion_token", r"\b(?:secret_[A-Za-z0-9]{43}|ntn_[0-9]{11}[A-Za-z0-9]{35})\b", 0.9),
    _s("airtable_pat", r"\bpat[A-Za-z0-9]{14}\.[a-f0-9]{64}\b"),
    _kw("asana_token", r"asana", r"[0-9]/[0-9]{16}:[A-Za-z0-9]{32}|[0-9]{16}:[A-Za-z0-9]{32}", 0.85),
    _s("figma_pat", r"\bfigd_[A-Za-z0-9_-]{40}\b"),
    _s("typeform_token", r"\btfp_[A-Za-z0-9_.=-]{59}\b"),
    _s("shopify_access_token", r"\bshpat_[a-fA-F0-9]{32}\b"),
    _s("shopify_custom_app_token", r"\bshpca_[a-fA-F0-9]{32}\b"),
    _s("shopify_private_app_token", r"\bshppa_[a-fA-F0-9]{32}\b"),
    _s("shopify_shared_secret", r"\bshpss_[a-fA-F0-9]{32}\b"),
    _s("hubspot_private_app_token", r"\bpat-(?:na|eu)1-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}\b"),
    _s("mailchimp_api_key", r"\b[a-f0-9]{32}-us\d{1,2}\b", 0.85),
    _kw("mailgun_api_key", r"mailgun", r"key-[a-f0-9]{32}|[a-f0-9]{32}-[a-f0-9]{8}-[a-f0-9]{8}", 0.9),
    _s("sendgrid_api_key", r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"),
    _s("brevo_api_key", r"\bxkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}\b"),
    _kw("postmark_server_token", r"postmark", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", 0.85),
    _s("twilio_api_key", r"\bSK[0-9a-fA-F]{32}\b", 0.8),
    _kw("twilio_auth_token", r"twilio[_-]?auth[_-]?token", r"[a-f0-9]{32}", 0.9),
    _s("mapbox_secret_token", r"\bsk\.eyJ[A-Za-z0-9_-]{50,}\.[A-Za-z0-9_-]{20,}"),
    _kw("algolia_admin_key", r"algolia", r"[a-f0-9]{32}", 0.85),
    _kw("okta_api_token", r"okta", r"00[A-Za-z0-9_-]{40}", 0.9),
    _kw("auth0_client_secret", r"auth0", r"[A-Za-z0-9_-]{64}", 0.85),
    _s("contentful_delivery_token", r"(?i)contentful" + _ASSIGN + r"([A-Za-z0-9_=-]{43})\b", 0.85),
    _kw("zendesk_api_token", r"zendesk", r"[A-Za-z0-9]{40}", 0.85),
    _kw("intercom_access_token", r"intercom", r"dG9rOj[A-Za-z0-9_=-]{50,70}", 0.9),
    # --- payment -------------------------------------------------------------------------
    _s("stripe_secret_key", r"\bsk_live_[A-Za-z0-9]{24,99}\b", 0.99),
    _s("stripe_restricted_key", r"\brk_live_[A-Za-z0-9]{24,99}\b", 0.99),
    _s("stripe_test_secret_key", r"\bsk_test_[A-Za-z0-9]{24,99}\b", 0.8),
    _s("stripe_webhook_secret", r"\bwhsec_[A-Za-z0-9+/]{32,}\b"),
    _s("square_access_token", r"\b(?:sq0atp-[A-Za-z0-9_-]{22}|EAAA[A-Za-z0-9_-]{60})\b"),
    _s("square_oauth_secret", r"\bsq0csp-[A-Za-z0-9_-]{43}\b"),
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
    _s("discord_bot_token", r"\b[MN][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}\b", 0.85),
    _s("telegram_bot_token", r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b"),
    _s("msteams_webhook_url", r"https://[A-Za-z0-9-]+\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/-]{40,300}"),
    _s("mattermost_token", r"(?i)mattermost" + _ASSIGN + r"([a-z0-9]{26})\b", 0.85),
    _s("zapier_webhook_url", r"https://hooks\.zapier\.com/hooks/catch/\d+/[A-Za-z0-9]+/?"),
    _kw("twitch_client_secret", r"twitch", r"[a-z0-9]{30}", 0.85),
    _kw("twitter_bearer_token", r"twitter|x[_-]bearer", r"A{22}[A-Za-z0-9%]{80,120}", 0.9),
    _s("facebook_access_token", r"\bEAA[MC][A-Za-z0-9]{100,}\b", 0.85),
    # --- AI providers --------------------------------------------------------------------
    _s("openai_api_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,200}T3BlbkFJ[A-Za-z0-9_-]{16,200}\b", 0.99),
    _s("openai_project_key", r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{48,200}\b", 0.9),
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
    _s("private_key_pgp", r"-----BEGIN PGP PRIVATE KEY BLOCK-----" + r"[A-Za-z0-9+/=\s:,.()@<>-]{64,}?"
       + r"-----END PGP PRIVATE KEY BLOCK-----", 0.99),
    _s("private_key_putty", r"PuTTY-User-Key-File-[23]: [a-z0-9-]+\s+Encryption: [a-z0-9-]+", 0.95),
    _s("age_secret_key", r"\bAGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}\b"),
    _s("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b", 0.9, validator="jwt"),
    # --- connection strings ----------------------------------------------------------------
    _s("postgres_connection_string", r"(?i)\bpostgres(?:ql)?(?:\+[a-z0-9]+)?://[^\s:/@'\"]{1,128}:([^\s@/'\"]{1,256})@[^\s/'\"]+", 0.95),
    _s("mysql_connection_string", r"(?i)\b(?:mysql|mariadb)(?:\+[a-z0-9]+)?://[^\s:/@'\"]{1,128}:([^\s@/'\"]{1,256})@[^\s/'\"]+", 0.95),
    _s("mongodb_connection_string", r"(?i)\bmongodb(?:\+srv)?://[^\s:/@'\"]{1,128}:([^\s@/'\"]{1,256})@[^\s/'\"]+", 0.95),
    _s("redis_connection_string", r"(?i)\brediss?://[^\s:/@'\"]{0,128}:([^\s@/'\"]{1,256})@[^\s/'\"]+", 0.95),
    _s("amqp_connection_string", r"(?i)\bamqps?://[^\s:/@'\"]{1,128}:([^\s@/'\"]{1,256})@[^\s/'\"]+", 0.95),
    _s("mssql_connection_string", r"(?i)\b(?:mssql|sqlserver)(?:\+[a-z0-9]+)?://[^\s:/@'\"]{1,128}:([^\s@/'\"]{1,256})@[^\s/'\"]+", 0.95),
    _s("jdbc_connection_password", r"(?i)\bjdbc:[a-z0-9]+:[^\s'\"]{0,256}?[;?&]password=([^;&\s'\"]{1,128})", 0.9),
    _s("ado_net_connection_string", r"(?i)(?:server|data source)=[^;'\"\n]{1,256};[^'\"\n]{0,512}?(?:password|pwd)=([^;'\"\s]{1,128})", 0.9),
    _s("url_basic_auth", r"(?i)\b(?:https?|ftp|smtp|ldap)s?://[^\s:/@'\"]{1,128}:([^\s@/'\"]{3,256})@[A-Za-z0-9.-]+", 0.85),
    # --- generic ----------------------------------------------------------------------------
    _s("authorization_bearer", r"(?i)\bauthorization\s*[:=]\s*[\"']?bearer\s+([A-Za-z0-9_\-.=+/~]{20,})", 0.9,
       entropy=3.0),
    _s("authorization_basic", r"(?i)\bauthorization\s*[:=]\s*[\"']?basic\s+([A-Za-z0-9+/]{12,512}={0,2})", 0.85),
    _s("generic_password_assignment",
       r"(?i)(?:^|[^A-Za-z0-9])(?:password|passwd|passphrase|pwd|db_pass|pass)" + _ASSIGN
       + r"([^\s'\"`;,]{8,128})", 0.75, entropy=2.5),
    _s("generic_secret_assignment",
       r"(?i)(?:^|[^A-Za-z0-9])(?:secret|token|api[_-]?key|apikey|access[_-]?key|client[_-]?secret|private[_-]?key"
       r"|auth[_-]?key|credential|signing[_-]?key|encryption[_-]?key)" + _ASSIGN
       + r"([A-Za-z0-9_\-+/=.~]{16,256})", 0.7, entropy=3.5),
)  # fmt: skip
