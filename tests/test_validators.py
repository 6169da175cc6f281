"""Validators of the rule packs: checksums, issuer tables, context words,
secret heuristics, word boundaries and matches from the decoded view."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmward.guard import validators as v


def span_of(text: str, needle: str) -> tuple[str, int, int]:
    start = text.index(needle)
    return text, start, start + len(needle)


# -- payment cards ------------------------------------------------------------

DOCUMENTED_CARDS = {
    "4111111111111111": "visa",
    "4012888888881881": "visa",
    "4222222222222": "visa",  # 13 digits
    "5555555555554444": "mastercard",
    "5105105105105100": "mastercard",
    "2223003122003222": "mastercard",  # 2-series
    "378282246310005": "amex",
    "371449635398431": "amex",
    "6011111111111117": "discover",
    "6011000990139424": "discover",
    "3530111333300000": "jcb",
    "3566002020360505": "jcb",
    "30569309025904": "diners",
    "38520000023237": "diners",
    "6200000000000005": "unionpay",
    "6759649826438453": "maestro",
    "2200000000000004": "mir",
}


@pytest.mark.parametrize(("number", "brand"), sorted(DOCUMENTED_CARDS.items()))
def test_documented_test_cards(number: str, brand: str) -> None:
    assert v.luhn_ok(number)
    assert v.card_brand(number) == brand
    text = f"card {number} exp 12/30"
    assert v.valid_credit_card(*span_of(text, number))


@pytest.mark.parametrize("number", [
    "4111111111111112",  # Luhn fails
    "1234567890123456",  # Luhn fails
    "9999999999999995",  # Luhn passes, no issuer starts with 9
    "1000000000000008",  # Luhn passes, no issuer starts with 1
    "5555555555554",  # Mastercard prefix, wrong length
    "37828224631000",  # Amex prefix, 14 digits
    "0000000000000000",  # Luhn passes (all zero), no issuer
])
def test_card_like_numbers_are_rejected(number: str) -> None:
    text = f"id {number} end"
    assert not v.valid_credit_card(*span_of(text, number))


def test_luhn_rejects_non_digits() -> None:
    assert not v.luhn_ok("")
    assert not v.luhn_ok("4111-1111")
    assert not v.luhn_ok("４１１１")


def test_card_with_separators_fullwidth_and_invisibles() -> None:
    for shown in ("4111 1111 1111 1111", "4111-1111-1111-1111",
                  "４１１１ １１１１ １１１１ １１１１", "4\u200b111 1111 11\u00ad11 1111",
                  "\U0001d7d2\U0001d7cf\U0001d7cf\U0001d7cf 1111 1111 1111"):
        assert v.valid_credit_card(*span_of(f"pay with {shown} now", shown)), shown


def test_card_inside_a_longer_number_is_rejected() -> None:
    assert not v.valid_credit_card(*span_of("ref 9-4111111111111111", "4111111111111111"))
    assert not v.valid_credit_card(*span_of("ref 94111111111111111", "4111111111111111"))
    assert not v.valid_credit_card(*span_of("4111111111111111-5", "4111111111111111"))


# -- SSN ------------------------------------------------------------------------


@pytest.mark.parametrize("ssn", ["123-45-6789", "123 45 6789", "001-01-0001", "899-99-9999",
                                 "665-12-3456"])
def test_valid_ssn(ssn: str) -> None:
    assert v.valid_ssn(*span_of(f"SSN {ssn}.", ssn))


@pytest.mark.parametrize("ssn", [
    "000-12-3456", "666-12-3456", "900-12-3456", "999-99-9999",  # areas
    "123-00-4567",  # group
    "123-45-0000",  # serial
    "078-05-1120", "219-09-9999",  # voided by the SSA
])
def test_invalid_ssn(ssn: str) -> None:
    assert not v.valid_ssn(*span_of(f"SSN {ssn}.", ssn))


def test_ssn_inside_a_dashed_number_is_rejected() -> None:
    assert not v.valid_ssn(*span_of("2024-123-45-6789", "123-45-6789"))
    assert not v.valid_ssn(*span_of("123-45-6789-01", "123-45-6789"))


def test_bare_ssn_needs_context() -> None:
    assert v.valid_ssn_with_context(*span_of("my SSN: 123456789", "123456789"))
    assert v.valid_ssn_with_context(*span_of("Social Security number 123456789", "123456789"))
    assert not v.valid_ssn_with_context(*span_of("order 123456789", "123456789"))


# -- IBAN ------------------------------------------------------------------------


@pytest.mark.parametrize("iban", [
    "GB82 WEST 1234 5698 7654 32",
    "GB82WEST12345698765432",
    "DE89 3704 0044 0532 0130 00",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NL91 ABNA 0417 1643 00",
    "BE68 5390 0754 7034",
    "NO93 8601 1117 947",
    "CH93 0076 2011 6238 5295 7",
    "gb82 west 1234 5698 7654 32",
])
def test_valid_iban(iban: str) -> None:
    assert v.valid_iban(*span_of(f"IBAN: {iban}.", iban))


@pytest.mark.parametrize("iban", [
    "GB82 WEST 1234 5698 7654 33",  # check digits
    "DE89 3704 0044 0532 0130 01",
    "DE88 3704 0044 0532 0130 00",
    "GB82 WEST 1234 5698 7654",  # length for GB
    "XX82 WEST 1234 5698 7654 32",  # unknown country
    "DE89 3704 0044 0532 0130 000",  # one too many
])
def test_invalid_iban(iban: str) -> None:
    assert not v.valid_iban(*span_of(f"IBAN: {iban}.", iban))


def test_iban_checksum_and_table() -> None:
    assert v.iban_checksum_ok("GB82WEST12345698765432")
    assert not v.iban_checksum_ok("GB82WEST12345698765431")
    assert not v.iban_checksum_ok("GB82")
    assert v.IBAN_LENGTHS["DE"] == 22 and v.IBAN_LENGTHS["NO"] == 15
    assert v.IBAN_LENGTHS["RU"] == 33 and v.IBAN_LENGTHS["LC"] == 32


def test_iban_with_lookalike_letters_and_invisibles() -> None:
    iban = "D\u0415\u200b89 3704 0044 0532 0130 00"  # Cyrillic Е, zero-width space
    assert v.valid_iban(*span_of(f"IBAN {iban}", iban))


# -- e-mail -------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["jane.doe@example.com", "a+tag@mail.example.co.uk",
                                   "x@y.io", "j\u0430ne@ex\u0430mple.\u0441om"])
def test_valid_email(email: str) -> None:
    assert v.valid_email(*span_of(f"write to {email} today", email))


@pytest.mark.parametrize("email", ["icon@2x.png", "logo@3x.webp", ".a@b.com", "a.@b.com",
                                   "a..b@c.com", "a@-b.com", "a@b-.com", "a@b.c0m"])
def test_invalid_email(email: str) -> None:
    assert not v.valid_email(*span_of(f"see {email} ok", email))


# -- phone numbers ----------------------------------------------------------------


@pytest.mark.parametrize("phone", ["(415) 555-2671", "415-555-2671", "415.555.2671",
                                   "+1 415 555 2671", "1-212-555-0143"])
def test_valid_nanp(phone: str) -> None:
    assert v.valid_nanp_phone(*span_of(f"call {phone} now", phone))


@pytest.mark.parametrize("phone", ["555-123-4567", "(555) 123-4567",  # exchange starts with 1
                                   "123-456-7890", "015-555-2671",  # area starts with 0/1
                                   "911-555-2671"])  # N11 code
def test_invalid_nanp(phone: str) -> None:
    assert not v.valid_nanp_phone(*span_of(f"call {phone} now", phone))


@pytest.mark.parametrize("phone", ["+44 20 7946 0958", "+49 30 123456", "+4930123456",
                                   "+33 1 23 45 67 89", "+44 (0)20 7946 0958",
                                   "+1 415 555 2671"])
def test_valid_international(phone: str) -> None:
    assert v.valid_intl_phone(*span_of(f"Tel. {phone}.", phone))


@pytest.mark.parametrize(("text", "phone"), [
    ("x = +35236450.6", "+35236450.6"),  # a decimal number
    ("1+2345678", "+2345678"),  # an addition, 7 digits
    ("a+44 20 7946 0958", "+44 20 7946 0958"),  # glued to a word
    ("+1234567890123456", "+1234567890123456"),  # 16 digits
    ("+1 555 123 4567", "+1 555 123 4567"),  # NANP rules for +1
])
def test_invalid_international(text: str, phone: str) -> None:
    assert not v.valid_intl_phone(*span_of(text, phone))


def test_bare_phone_needs_context() -> None:
    assert v.valid_phone_with_context(*span_of("Phone: 4155552671", "4155552671"))
    assert v.valid_phone_with_context(*span_of("you can CALL me on 14155552671", "14155552671"))
    assert v.valid_phone_with_context(*span_of("WhatsApp 4155552671", "4155552671"))
    assert not v.valid_phone_with_context(*span_of("order 4155552671", "4155552671"))
    assert not v.valid_phone_with_context(*span_of("recall 4155552671", "4155552671"))


def test_has_context() -> None:
    text = "For support, please call our hotline at 4155552671"
    start = text.index("4155552671")
    assert v.has_context(text, start, ["call"])
    assert v.has_context(text, start, {"HOTLINE"})
    assert not v.has_context(text, start, ["support"], window=20)
    assert not v.has_context(text, start, [])
    assert not v.has_context("a telescope 4155552671", 12, ["tel"])  # whole words only
    assert v.has_context("Ph\u200bone: 4155552671", 8, ["phone"])  # invisible removed


# -- secrets ---------------------------------------------------------------------------


def test_entropy() -> None:
    assert v.shannon_entropy("") == 0.0
    assert v.shannon_entropy("aaaa") == 0.0
    assert v.shannon_entropy("abcd") == pytest.approx(2.0)
    assert v.shannon_entropy("9f8e7d6c5b4a3f2e1d0c") > 3.0


@pytest.mark.parametrize("value", ["xxxxxxxx", "changeme", "<your-token>", "${VAR}", "$TOKEN",
                                   "YOUR_API_KEY", "your-api-key-here", "********",
                                   "{{ secrets.TOKEN }}", "os.environ['X']", "REDACTED",
                                   "example-key-123", "/etc/secrets/db.txt",
                                   "https://vault.example.com/key"])
def test_placeholders(value: str) -> None:
    assert v.is_placeholder(value)


@pytest.mark.parametrize("value", ["9f8e7d6c5b4a3f2e1d0c", "S3cr3tPa55!", "wJalrXUtnFEMI/K7MDENG"])
def test_not_placeholders(value: str) -> None:
    assert not v.is_placeholder(value)


@pytest.mark.parametrize("text", [
    'password = "S3cr3t-Pa55w0rd!"',
    "API_KEY=sk9Xa7Qm2Lp4Rt6Vw8Yz",
    '"client_secret": "9f8e7d6c5b4a3f2e1d0c"',
    "db_password: Tr0ub4dor&3xyz",
])
def test_secret_assignment_accepted(text: str) -> None:
    assert v.valid_secret_assignment(text, 0, len(text))


@pytest.mark.parametrize("text", [
    "password: changeme123456",
    "api_key = YOUR_API_KEY_HERE",
    "token = get_token(user_id)",
    "password: settings.DB_PASSWORD",
    "DB_PASSWORD=${DB_PASSWORD}",
    "secret_key: xxxxxxxxxxxxxxxx",
    "token_type = 'quoted-string'",
    "password: _PasswordType",
    "token: Authorization:",  # a label (as in "token: Authorization: Bearer ..."), not a value
    "password = 'short'",
    "password",
])
def test_secret_assignment_rejected(text: str) -> None:
    assert not v.valid_secret_assignment(text, 0, len(text))


def test_token_boundaries() -> None:
    key = "AIza" + "B" * 35
    assert v.token_boundary(*span_of(f"key={key};", key))
    assert not v.token_boundary(*span_of(f"key=x{key}", key))
    assert not v.token_boundary(*span_of(f"key={key}-more", key))
    assert v.left_token_boundary(*span_of(f"key={key}-more", key))
    assert not v.left_token_boundary(*span_of(f"key=_{key}", key))


def test_aws_key_id_validator() -> None:
    assert v.valid_aws_access_key_id(*span_of("id AKIAIOSFODNN7EXAMPLE.", "AKIAIOSFODNN7EXAMPLE"))
    assert not v.valid_aws_access_key_id(*span_of("AKIAiosfodnn7example", "AKIAiosfodnn7example"))


def test_openai_and_anthropic_keys() -> None:
    key = "sk-" + "aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5oQ7sU9wY1a"
    assert v.valid_openai_key(*span_of(f"key: {key}", key))
    anthropic_like = "sk-ant-api03-abcdef1234567890abcdef"
    assert not v.valid_openai_key(anthropic_like, 0, len(anthropic_like))
    letters_only = "sk-abcdefghijklmnopqrstuvwxyz"
    assert not v.valid_openai_key(letters_only, 0, len(letters_only))
    assert not v.valid_openai_key(*span_of("task-" + key[3:], "sk-" + key[3:]))
    ant = "sk-ant-api03-" + "xY9_zW8-vU7t" * 8
    assert v.valid_anthropic_key(*span_of(f"{ant} ", ant))


def test_url_credentials_and_bearer() -> None:
    good = "postgres://admin:S3cr3tPa55@"
    assert v.valid_url_credentials(*span_of(good + "db.example.com", good))
    bad = "postgres://user:password@"
    assert not v.valid_url_credentials(*span_of(bad + "localhost", bad))
    assert v.valid_bearer_token(*span_of("Authorization: Bearer abcDEF123456ghiJKL789",
                                         "Authorization: Bearer abcDEF123456ghiJKL789"))
    assert not v.valid_bearer_token(*span_of("Bearer YOUR_TOKEN_GOES_HERE",
                                             "Bearer YOUR_TOKEN_GOES_HERE"))


# -- content terms ----------------------------------------------------------------------


def test_word_boundary() -> None:
    assert v.word_boundary(*span_of("how to kill it", "kill"))
    assert not v.word_boundary(*span_of("skill", "kill"))
    assert not v.word_boundary(*span_of("killer", "kill"))
    assert not v.word_boundary(*span_of("kill2", "kill"))
    assert v.word_boundary(*span_of("(kill)", "kill"))
    # invisible characters and marks next to the span are skipped
    assert not v.word_boundary(*span_of("s\u200bkill", "kill"))
    assert v.word_boundary(*span_of("\u200bkill\u200b!", "kill"))
    assert not v.word_boundary(*span_of("kill\u0301s", "kill"))
    assert not v.word_boundary("\u200b\u200b", 0, 2)
    # a term that begins or ends with punctuation has no boundary to check there
    assert v.word_boundary(*span_of("c++x", "c++"))


def test_term_validator_allowlist() -> None:
    check = v.TermValidator(["kill the process", "Pipe Bomb"])
    assert check.allowlist == {"kill the process", "pipe bomb"}
    assert not check(*span_of("please kill the process now", "kill the"))
    assert check(*span_of("please kill the cat", "kill the"))
    assert not check(*span_of("a PIPE BOMB", "PIPE BOMB"))  # the finding itself is listed
    assert not check(*span_of("a pi\u200bpe bomb", "pi\u200bpe bomb"))
    assert not check(*span_of("overkill the process", "kill the"))  # not whole words
    assert v.TermValidator()(*span_of("kill the", "kill the"))
    assert "2 entries" in repr(check)


# -- the decoded view -------------------------------------------------------------------


def test_decodings() -> None:
    text = "card 4111 1111 1111 1111"
    assert text in v.decodings(base64.b64encode(text.encode()).decode())
    assert text in v.decodings(text.encode().hex())
    assert text in v.decodings("".join(f"%{b:02X}" for b in text.encode()))
    assert text in v.decodings("".join(f"\\x{b:02x}" for b in text.encode()))
    nested = base64.b64encode(text.encode()).decode().encode().hex()
    assert text in v.decodings(nested)
    assert v.decodings("not encoded!") == []
    assert v.decodings("A" * 10_000) == []


def test_decoded_aware_confirms_encoded_matches() -> None:
    card = "4111 1111 1111 1111"
    encoded = base64.b64encode(f"card {card} thanks".encode()).decode()
    text = f"decode: {encoded}"
    start = text.index(encoded)
    span = (text, start, start + len(encoded))
    assert not v.valid_credit_card(*span)  # the encoded characters are no card
    wrapped = v.DecodedAware(v.valid_credit_card,
                             r"\b[0-9]{4}[ \-][0-9]{4}[ \-][0-9]{4}[ \-][0-9]{4}\b")
    assert wrapped(*span)
    assert wrapped(*span_of(f"pay {card}", card))  # a plain match still passes
    bad = base64.b64encode(b"card 4111 1111 1111 1112 thanks").decode()
    assert not wrapped(bad, 0, len(bad))
    assert "valid_credit_card" in repr(wrapped)
    assert wrapped.check is v.valid_credit_card


def test_decoded_aware_folds_lookalikes() -> None:
    email = "j\u0430ne@ex\u0430mple.com"
    encoded = base64.b64encode(email.encode()).decode()
    wrapped = v.DecodedAware(v.valid_email,
                             r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9.\-]{1,40}\.[A-Za-z]{2,18}")
    assert wrapped(encoded, 0, len(encoded))


def test_digits_and_canonical_text() -> None:
    assert v.digits_in("４1\u200b\U0001d7d0-٣") == "4123"
    assert v.canonical_text("Ｐｉ\u200bpé  BOMB") == "pipe  bomb"
    assert v.fold_char("\u0415") == "E"
    assert v.fold_chars("abc") == "abc"


# -- the native checks for ASCII text equal the Python reference -----------------------------

NUMBER_PIECES = st.sampled_from([
    "4111111111111111", "4111 1111 1111 1111", "378282246310005", "5555555555554444",
    "6011111111111117", "3530111333300000", "30569309025904", "6759649826438453",
    "2200000000000004", "123-45-6789", "078-05-1120", "666-12-3456", "415-555-2671",
    "1 415 555 2671", "(415) 555-2671", "911-555-1234", "0", "1", "9", "-", ".", "/", ",", " ",
    "x", "ab",
])


@settings(max_examples=1000, deadline=None)
@given(st.lists(NUMBER_PIECES, min_size=1, max_size=8).map("".join), st.data())
def test_native_checks_equal_the_python_reference(text, data):
    from llmward._core import credit_card_ok, nanp_phone_ok, ssn_ok

    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    assert credit_card_ok(text, start, end) == v.credit_card_reference(text, start, end)
    assert ssn_ok(text, start, end) == v.ssn_reference(text, start, end)
    assert nanp_phone_ok(text, start, end) == v.nanp_phone_reference(text, start, end)


def test_native_checks_leave_unicode_to_python():
    from llmward._core import credit_card_ok, ssn_ok

    text = "card ４１１１ 1111 1111 1111 é"  # full-width digits: Python reads them
    assert credit_card_ok(text, 5, 24) is None
    assert v.valid_credit_card(text, 5, 24) == v.credit_card_reference(text, 5, 24)
    assert ssn_ok("123-45-6789", 5, 2) is None  # a span the Python slicing decides
    assert v.valid_ssn("123-45-6789", 0, 11) is True
    assert v.valid_nanp_phone("call 415-555-2671 now", 5, 17) is True
    assert v.valid_credit_card("4111 1111 1111 1112", 0, 19) is False  # Luhn


@settings(max_examples=1000, deadline=None)
@given(st.lists(NUMBER_PIECES, max_size=3).map("".join), NUMBER_PIECES,
       st.lists(NUMBER_PIECES, max_size=3).map("".join))
def test_native_checks_on_whole_numbers(left, number, right):
    from llmward._core import credit_card_ok, nanp_phone_ok, ssn_ok

    text, start, end = left + number + right, len(left), len(left) + len(number)
    assert credit_card_ok(text, start, end) == v.credit_card_reference(text, start, end)
    assert ssn_ok(text, start, end) == v.ssn_reference(text, start, end)
    assert nanp_phone_ok(text, start, end) == v.nanp_phone_reference(text, start, end)
    if not left and not right:  # alone, the documented numbers are valid
        assert v.credit_card_reference(text, start, end) == (number in {
            "4111111111111111", "4111 1111 1111 1111", "378282246310005", "5555555555554444",
            "6011111111111117", "3530111333300000", "30569309025904", "6759649826438453",
            "2200000000000004"})


EMAIL_PIECES = st.sampled_from(["bob", "a.b", ".", "..", "@", "-", "x-y", "example", "com",
                                "png", "2x", "CO", "Mail", "_", "+tag", "9", "uk"])


@settings(max_examples=1000, deadline=None)
@given(st.lists(EMAIL_PIECES, min_size=1, max_size=9).map("".join), st.data())
def test_native_email_shape_equals_the_python_reference(text, data):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    assert v.valid_email(text, start, end) == v.email_reference(text, start, end)


def test_email_examples():
    from llmward._core import email_shape

    assert email_shape("mail bob@example.COM now", 5, 20) == "com"
    assert email_shape("icon@2x.png", 0, 11) == "png" and not v.valid_email("icon@2x.png", 0, 11)
    assert email_shape("a..b@example.com", 0, 16) is False
    assert email_shape("bob@-example.com", 0, 16) is False
    assert email_shape("bob@localhost", 0, 13) is False
    assert email_shape("bób@example.com", 0, 15) is None  # not ASCII: Python decides
    assert v.valid_email("bób@example.com", 0, 15)
