"""Credentials by their documented formats.

Every rule redacts (category ``secret.<kind>``, placeholder ``[SECRET]``) and
is scanned in the raw and decoded views only: folding would corrupt token
alphabets (leetspeak folding turns "ghp_1a2b" into "ghp_iaeb"). Patterns are
case-sensitive; keywords use inline ``(?i:...)`` groups.

========================  ===================================================
rule                      format
========================  ===================================================
aws_access_key_id         AKIA or ASIA + 16 upper-case letters and digits
aws_secret_access_key     40 base64 characters behind an aws/secret keyword
github_token              ghp_ / gho_ / ghu_ / ghs_ / ghr_ + 36 characters
github_fine_grained_pat   github_pat_ + 22 + '_' + 59 characters
gitlab_token              glpat- + 20 characters
slack_token               xoxb- / xoxp- / xoxa- / xoxr- / xoxs- / xoxe- ...
slack_webhook             https://hooks.slack.com/services/...
google_api_key            AIza + 35 characters
stripe_key                sk_live_ / rk_live_ + 24-99 characters
openai_api_key            sk- / sk-proj- / sk-svcacct- + 20-110 characters
anthropic_api_key         sk-ant-api03- / sk-ant-admin01- + 80-110 characters
huggingface_token         hf_ + 34 letters
npm_token                 npm_ + 36 characters
pypi_token                pypi-AgEIcHlwaS5vcmc + 50-100 characters
sendgrid_api_key          SG. + 22 + '.' + 43 characters
private_key               -----BEGIN (RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP )PRIVATE KEY-----
jwt, jwt.long             eyJ... . eyJ... . signature (base64url)
bearer_token              Authorization: Bearer <token>, Bearer <token>
basic_auth                Authorization: Basic <base64>
url_credentials           scheme://user:password@
assignment                password / secret / token / api_key ... = or : value
========================  ===================================================

Widths are bounded for the streaming redactor. Two trade-offs follow:

* ``private_key`` matches the BEGIN line only (a whole PEM block is
  kilobytes wide). Redacting the header would leave the key material in
  place, so this rule *blocks* in prompts and outputs instead of redacting.
* ``jwt`` covers the header (up to 70 characters), a payload of up to 130
  characters and up to 43 characters of the signature (all of an HS256
  signature); ``jwt.long`` covers the header and the first 130 characters of
  a longer payload. A long token is thus redacted in part; what remains
  cannot be used without the exact bytes of the redacted payload.
* Long keys (sk-proj- keys of 160+ characters, PyPI macaroons) are redacted
  in their first 100-110 characters, which makes them useless; Hyperscan's
  exact-span tracking refuses longer bounded repeats of a class that also
  matches the key's own prefix.

``assignment`` needs a value of at least 12 characters (78 are matched) that is random enough
(Shannon entropy >= 3.0 bits per character or three character classes) and
not a placeholder ("changeme", "<your-token>", "${VAR}", "xxxx") or code
("get_token()", "DB_PASSWORD", "settings.SECRET_KEY").
"""

from __future__ import annotations

from llmward.guard import validators as v
from llmward.guard.rules import Action, RuleSpec, Validator, ViewName

__all__ = ["SECRET_VIEWS", "secret_rules"]

SECRET_VIEWS: frozenset[ViewName] = frozenset({"raw", "decoded"})

_B64URL = r"[A-Za-z0-9_\-]"
_KEYWORDS = (r"(?i:passwd|password|passphrase|pass_?word|secret|client_?secret|"
             r"token|auth_?token|access_?token|refresh_?token|api_?key|api-key|apikey|"
             r"access_?key|access-key|secret_?key|private_?key|app_?secret|signing_?key)")


def _rule(kind: str, pattern: str, description: str, validator: Validator | None = None, *,
          rule_id: str | None = None, action: Action = "redact",
          output_action: Action = "redact") -> RuleSpec:
    return RuleSpec(
        id=f"secret.{rule_id or kind}",
        pattern=pattern,
        category=f"secret.{kind}",
        action=action,
        output_action=output_action,
        caseless=False,
        views=SECRET_VIEWS,
        validator=None if validator is None else v.DecodedAware(validator, pattern),
        placeholder="[SECRET]",
        description=description,
    )


def secret_rules() -> list[RuleSpec]:
    """The credential rules, in a stable order."""
    return [
        _rule(
            "aws_access_key_id",
            r"\b(?:AKIA|ASIA)[A-Za-z0-9]{16}\b",
            "AWS access key id (AKIA long-term, ASIA temporary): upper-case letters and digits; "
            "lower case is let through only for the decoded view, which reads leetspeak",
            v.valid_aws_access_key_id,
        ),
        _rule(
            "aws_secret_access_key",
            r"(?i:aws|secret)[A-Za-z0-9_.\-]{0,30}[\"']?[ \t]{0,3}(?::=|=>|[:=])[ \t]{0,3}"
            r"[\"']?[A-Za-z0-9/+]{40}",
            "AWS secret access key: 40 base64 characters behind an aws/secret keyword",
            v.token_boundary,
        ),
        _rule(
            "github_token",
            r"\bgh[pousr]_[A-Za-z0-9]{36}\b",
            "GitHub token: ghp_ (personal), gho_ (OAuth), ghu_ (user-to-server), ghs_ "
            "(server-to-server), ghr_ (refresh)",
        ),
        _rule(
            "github_token",
            r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b",
            "GitHub fine-grained personal access token",
            rule_id="github_fine_grained_pat",
        ),
        _rule(
            "gitlab_token",
            r"\bglpat-[A-Za-z0-9_\-]{20}",
            "GitLab personal access token",
            v.token_boundary,
        ),
        _rule(
            "slack_token",
            r"\bxox[abeoprs]-[A-Za-z0-9\-]{10,110}",
            "Slack token: xoxb- (bot), xoxp- (user), xoxa-, xoxr- (refresh), xoxs-, xoxe-",
            v.left_token_boundary,
        ),
        _rule(
            "slack_webhook",
            r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{20,120}",
            "Slack incoming webhook URL",
        ),
        _rule(
            "google_api_key",
            r"\bAIza[A-Za-z0-9_\-]{35}",
            "Google API key",
            v.token_boundary,
        ),
        _rule(
            "stripe_key",
            r"\b[rs]k_live_[A-Za-z0-9]{24,99}\b",
            "Stripe live secret (sk_live_) or restricted (rk_live_) key",
        ),
        _rule(
            "openai_api_key",
            r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,110}",
            "OpenAI-style key: sk-, sk-proj-, sk-svcacct-",
            v.valid_openai_key,
        ),
        _rule(
            "anthropic_api_key",
            r"\bsk-ant-(?:api|admin)[0-9A-Za-z]{2}-[A-Za-z0-9_\-]{80,110}",
            "Anthropic API key",
            v.valid_anthropic_key,
        ),
        _rule(
            "huggingface_token",
            r"\bhf_[A-Za-z]{34}\b",
            "Hugging Face user access token",
        ),
        _rule(
            "npm_token",
            r"\bnpm_[A-Za-z0-9]{36}\b",
            "npm access token",
        ),
        _rule(
            "pypi_token",
            r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,100}",
            "PyPI API token (a macaroon for pypi.org)",
        ),
        _rule(
            "sendgrid_api_key",
            rf"\bSG\.{_B64URL}{{22}}\.{_B64URL}{{43}}",
            "SendGrid API key",
            v.token_boundary,
        ),
        _rule(
            "private_key",
            r"-----BEGIN[ ]{1,2}(?:(?:RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP|SSH2)[ ]{1,2})?"
            r"PRIVATE[ ]{1,2}KEY(?:[ ]{1,2}BLOCK)?-----",
            "PEM/OpenSSH/PGP private key header; blocks, since redacting the header would "
            "leave the key material",
            action="block",
            output_action="block",
        ),
        _rule(
            "jwt",
            rf"\beyJ{_B64URL}{{10,70}}\.eyJ{_B64URL}{{10,130}}\.{_B64URL}{{16,43}}",
            "JSON Web Token: header, payload and (up to 43 characters of) the signature",
        ),
        _rule(
            "jwt",
            rf"\beyJ{_B64URL}{{10,70}}\.eyJ{_B64URL}{{130}}",
            "JSON Web Token with a payload over 130 characters: the header and the first 130 "
            "characters of the payload",
            rule_id="jwt.long",
        ),
        _rule(
            "bearer_token",
            r"(?:(?i:authorization)[\"']?[ \t]{0,3}[:=][ \t]{0,3}[\"']?)?(?i:bearer)[ \t]{1,3}"
            r"[A-Za-z0-9_\-.~+/]{16,160}=?=?",
            "bearer token: Authorization: Bearer <token>",
            v.valid_bearer_token,
        ),
        _rule(
            "basic_auth",
            r"(?i:authorization)[\"']?[ \t]{0,3}[:=][ \t]{0,3}[\"']?(?i:basic)[ \t]{1,3}"
            r"[A-Za-z0-9+/]{8,160}={0,2}",
            "HTTP basic credentials: Authorization: Basic <base64 user:password>",
            v.valid_bearer_token,
        ),
        _rule(
            "url_credentials",
            r"\b[A-Za-z][A-Za-z0-9+.\-]{1,15}://[A-Za-z0-9._~%!$&'*+,;=\-]{1,64}:"
            r"[A-Za-z0-9._~%!$&'*+,;=\-]{1,64}@",
            "password in a URL: scheme://user:password@host",
            v.valid_url_credentials,
        ),
        _rule(
            "generic",
            _KEYWORDS + r"(?:[_.\-][A-Za-z0-9_.\-]{1,20})?[\"']?[ \t]{0,3}(?::=|=>|[:=])[ \t]{0,3}"
            r"[\"'`]?[A-Za-z0-9!#$%&()*+,\-./:;<=>?@\[\]^_{|}~]{12,78}",
            "a random-looking value (12-78 characters, longer ones in part) behind "
            "password/secret/token/api_key/"
            "access_key/client_secret and = or :",
            v.valid_secret_assignment,
            rule_id="assignment",
        ),
    ]
