"""Personal data: e-mail addresses, phone numbers, US social security
numbers, payment card numbers and IBANs.

Every rule redacts (in prompts and outputs) and is scanned in all three
views: the folded view turns full-width, mathematical and Arabic-Indic digits
into ASCII digits, removes zero-width characters and folds look-alike
letters, so "４１１１ １１１１ ..." or "john＠example．com" are found too.
Patterns find candidates; validators (:mod:`llmward.guard.validators`)
confirm them:

* ``pii.credit_card.*``: 13-19 digits in the usual groupings (4-4-4-4,
  4-4-4-4-3, Amex 4-6-5, Diners 4-6-4, or contiguous); Luhn and a known
  issuer prefix for the length. Each grouping is its own rule, so a card
  followed by more digits ("4111 1111 1111 1111 123") is still found: the
  scanner drops spans contained in a longer span of the same rule only.
* ``pii.ssn``: ddd-dd-dddd or ddd dd dddd; area not 000, 666 or 900-999,
  group not 00, serial not 0000. Nine bare digits need a context word
  ("SSN", "social security") shortly before (``pii.ssn.bare``).
* ``pii.iban.len<N>``: one rule per IBAN length, listing the countries of
  that length, with optional spaces every four characters; the validator
  checks the country's length and ISO 7064 mod 97. One rule per length keeps
  an IBAN followed by more digits from being swallowed by a longer match.
  Country codes are upper case, as IBANs are written: accepting lower case
  made the pack ten times slower on English text ("it", "by", "do" ...).
* ``pii.email``: a bounded address pattern (local part up to 64 characters,
  domain up to 40 plus a top-level domain); asset names like "icon@2x.png"
  are dropped.
* ``pii.phone.*``: North American numbers with separators ("(415) 555-2671",
  "415-555-2671", "415.555.2671", "+1 415 555 2671"; area and exchange codes
  start with 2-9, so the fictional "555-123-4567" does not count),
  international numbers from '+' with 8-15 digits ("+44 20 7946 0958",
  "+49 30 123456"), and ten bare digits only after a context word ("phone",
  "call", "mobile", "fax", "whatsapp"... within 40 characters), so order ids
  and timestamps do not fire.
"""

from __future__ import annotations

from collections import defaultdict

from llmward.guard import validators as v
from llmward.guard.rules import ALL_VIEWS, RuleSpec, Validator

__all__ = ["pii_rules"]

_SEP = r"[ \-]"  # one space or dash between card digit groups


DIGITS = "0123456789"


def _rule(rule_id: str, pattern: str, category: str, placeholder: str, validator: Validator,
          description: str) -> RuleSpec:
    # Every PII pattern but the e-mail address needs a digit; an address, an '@'.
    requires_any = "@" if category == "pii.email" else DIGITS
    return RuleSpec(
        id=rule_id,
        pattern=pattern,
        category=category,
        action="redact",
        output_action="redact",
        caseless=False,
        views=ALL_VIEWS,
        validator=v.DecodedAware(validator, pattern),
        placeholder=placeholder,
        description=description,
        requires_any=requires_any,
    )


def _card(rule_id: str, pattern: str, description: str) -> RuleSpec:
    return _rule(f"pii.credit_card.{rule_id}", pattern, "pii.credit_card", "[CREDIT_CARD]",
                 v.valid_credit_card, description)


def _iban_rules() -> list[RuleSpec]:
    by_length: dict[int, list[str]] = defaultdict(list)
    for country, length in v.IBAN_LENGTHS.items():
        by_length[length].append(country)
    rules = []
    for length in sorted(by_length):
        countries = "|".join(sorted(by_length[length]))
        groups, rest = divmod(length - 4, 4)
        body = rf"(?: ?[A-Za-z0-9]{{4}}){{{groups}}}"
        if rest:
            body += rf" ?[A-Za-z0-9]{{{rest}}}"
        rules.append(_rule(
            f"pii.iban.len{length}",
            rf"\b(?:{countries})[0-9]{{2}}{body}\b",
            "pii.iban",
            "[IBAN]",
            v.valid_iban,
            f"IBAN of {length} characters ({', '.join(sorted(by_length[length]))}); "
            "mod-97 checked",
        ))
    return rules


def pii_rules() -> list[RuleSpec]:
    """The personal-data rules, in a stable order."""
    return [
        _rule(
            "pii.email",
            r"\b[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9.\-]{1,40}\.[A-Za-z]{2,18}\b",
            "pii.email",
            "[EMAIL]",
            v.valid_email,
            "e-mail address",
        ),
        _rule(
            "pii.phone.nanp",
            r"(?:\+1[ .\-]{0,2}|\b1[ .\-]{1,2})?"
            r"(?:\([2-9][0-9]{2}\)[ .\-]{0,2}|\b[2-9][0-9]{2}[ .\-]{1,2})"
            r"[2-9][0-9]{2}[ .\-]{1,2}[0-9]{4}\b",
            "pii.phone",
            "[PHONE]",
            v.valid_nanp_phone,
            "North American number with separators: (415) 555-2671, 415-555-2671, "
            "415.555.2671, +1 415 555 2671",
        ),
        _rule(
            "pii.phone.intl",
            r"\+[1-9][0-9]{0,3}(?:[ .\-]{0,2}\(0\))?"
            r"(?:[ .\-]{0,2}(?:\([0-9]{1,5}\)|[0-9]{1,6})){1,6}",
            "pii.phone",
            "[PHONE]",
            v.valid_intl_phone,
            "international number from '+', 8-15 digits: +44 20 7946 0958, +4930123456",
        ),
        _rule(
            "pii.phone.bare",
            r"\b1?[2-9][0-9]{2}[2-9][0-9]{6}\b",
            "pii.phone",
            "[PHONE]",
            v.valid_phone_with_context,
            "ten bare digits after a context word (phone, call, mobile, fax...)",
        ),
        _rule(
            "pii.ssn",
            r"\b(?:[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4})\b",
            "pii.ssn",
            "[SSN]",
            v.valid_ssn,
            "US social security number ddd-dd-dddd or ddd dd dddd",
        ),
        _rule(
            "pii.ssn.bare",
            r"\b[0-9]{9}\b",
            "pii.ssn",
            "[SSN]",
            v.valid_ssn_with_context,
            "nine bare digits after SSN / social security",
        ),
        _card(
            "grouped16",
            rf"\b[0-9]{{4}}{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}}\b",
            "16 digits as 4-4-4-4 with spaces or dashes",
        ),
        _card(
            "grouped19",
            rf"\b[0-9]{{4}}{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}}{_SEP}[0-9]{{3}}\b",
            "19 digits as 4-4-4-4-3",
        ),
        _card(
            "grouped13",
            rf"\b4[0-9]{{3}}{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}}{_SEP}[0-9]\b",
            "13-digit Visa as 4-4-4-1",
        ),
        _card(
            "amex",
            rf"\b3[47][0-9]{{2}}{_SEP}?[0-9]{{6}}{_SEP}?[0-9]{{5}}\b",
            "American Express 15 digits as 4-6-5",
        ),
        _card(
            "diners",
            rf"\b3[0689][0-9]{{2}}{_SEP}?[0-9]{{6}}{_SEP}?[0-9]{{4}}\b",
            "Diners Club 14 digits as 4-6-4",
        ),
        _card(
            "contiguous",
            r"\b[0-9]{13,19}\b",
            "13-19 contiguous digits",
        ),
        *_iban_rules(),
    ]
