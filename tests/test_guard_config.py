import pytest

from llmward.guard.config import GuardConfig


def write(tmp_path, text):
    path = tmp_path / "guard.toml"
    path.write_text(text)
    return path


def test_full_config(tmp_path, monkeypatch):
    (tmp_path / "terms").mkdir()
    monkeypatch.setenv("CANARY_FOR_TEST", "canary-0123456789abcdef")
    config = GuardConfig.from_file(write(tmp_path, """
views = ["raw", "folded"]

[limits]
max_chars = 100
max_tokens = 20

[packs]
enabled = ["injection", "pii"]
content_dir = "terms"

[actions]
"pii" = { prompt = "block" }
"pii.email" = { prompt = "flag", output = "flag" }

[placeholders]
"pii.phone" = "<phone>"

[allowlist]
"pii.email" = ["Support@Example.com"]

[canary]
token_env = "CANARY_FOR_TEST"

[[rules]]
id = "custom.codename"
pattern = "project\\\\s+nightingale"
category = "content.confidential"
output_action = "redact"
placeholder = "[CODENAME]"
"""))
    assert config.limits.max_chars == 100 and config.limits.max_tokens == 20
    assert config.limits.max_output_chars == 1_048_576
    assert config.packs == {"injection", "pii"}
    assert config.content_dir == (tmp_path / "terms").resolve()
    assert config.actions["pii"].prompt == "block" and config.actions["pii"].output is None
    assert config.placeholders == {"pii.phone": "<phone>"}
    assert config.allowlist == {"pii.email": frozenset({"support@example.com"})}
    assert config.canary == "canary-0123456789abcdef"
    assert config.views == {"raw", "folded"}
    (rule,) = config.rules
    assert (rule.id, rule.pattern, rule.action, rule.placeholder) == (
        "custom.codename", r"project\s+nightingale", "block", "[CODENAME]")


@pytest.mark.parametrize("text,message", [
    ("[limit]\nmax_chars = 1", "unknown keys ['limit']"),
    ("[limits]\nmax_char = 1", "unknown keys ['max_char']"),
    ("[limits]\nmax_chars = 0", "limits.max_chars: expected an integer"),
    ("[limits]\nmax_chars = true", "limits.max_chars: expected an integer"),
    ("[limits]\nmax_chars = 'big'", "limits.max_chars: expected an integer"),
    ("[packs]\nenabled = ['pii', 'nope']", "unknown packs ['nope']"),
    ("[packs]\ncontent_dir = 'missing'", "is not a directory"),
    ("[actions]\npii = { prompt = 'allow' }", "actions.pii.prompt: expected one of"),
    ("[actions]\npii = 'block'", "actions.pii: expected a table"),
    ("views = ['folded']", "must include 'raw'"),
    ("[canary]\ntoken = 'short'", "canary token must be"),
    ("[canary]\ntoken_env = 'LLMWARD_UNSET_VARIABLE'", "is not set"),
    ("[[rules]]\nid = 'x'\npattern = 'y'", "rules[0]: missing 'category'"),
    ("[[rules]]\nid = 'x'\npattern = 'y'\ncategory = 'c'\nliteral = 'yes'", "expected true"),
    ("[[rules]]\nid = 'x'\npattern = 'y'\ncategory = 'c'\nmultiline = 1", "rules[0].multiline"),
    ("this is = not toml =", "not valid TOML"),
])
def test_bad_configs_name_the_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        GuardConfig.from_file(path)
    assert str(path) in str(info.value)


def test_oversized_and_binary_files(tmp_path):
    path = tmp_path / "big.toml"
    path.write_bytes(b"# " + b"x" * (5 * 1024 * 1024))
    with pytest.raises(ValueError, match="larger than"):
        GuardConfig.from_file(path)
    path.write_bytes(b"\xff\xfe = 1")
    with pytest.raises(ValueError, match="not valid TOML"):
        GuardConfig.from_file(path)


def test_custom_rule_flags_reach_the_scanner(tmp_path):
    from llmward.guard import Guard

    path = write(tmp_path, """
packs.enabled = []
[[rules]]
id = "custom.header"
pattern = "^secret-header: [0-9]{4}$"
category = "content.confidential"
multiline = true
requires_any = "0123456789"
[[rules]]
id = "custom.block"
pattern = "begin.{1,20}end"
category = "content.confidential"
dotall = true
""")
    config = GuardConfig.from_file(path)
    assert [(r.multiline, r.dotall, r.requires_any) for r in config.rules] == [
        (True, False, "0123456789"), (False, True, "")]
    guard = Guard(config)
    text = "intro\nsecret-header: 1234\nbegin\nmiddle\nend"
    assert guard.redact(text) == "intro\n[FILTERED]\n[FILTERED]"
