"""Chat templates as untrusted code: real templates render as stock Jinja renders
them; template injection is reported by the audit, refused by default and blocked
by the sandbox; output, time and memory bombs are stopped."""

import gc
import sys
import threading
import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.sandbox import ImmutableSandboxedEnvironment

from gguf_files import CHATML
from llmward.integrity import template_sandbox
from llmward.integrity.chat_template import (
    ChatTemplateError,
    audit_chat_template,
    render_chat_template,
)

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)

GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)

# Llama 3.1 style: namespace, strftime_now, tools as indented JSON, whitespace control.
LLAMA31_TOOLS = """{{- bos_token }}
{%- if not date_string is defined %}
    {%- set date_string = strftime_now("%d %b %Y") %}
{%- endif %}
{%- set ns = namespace(system="") %}
{%- for message in messages | selectattr("role", "equalto", "system") %}
    {%- set ns.system = ns.system + message.content | trim %}
{%- endfor %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is defined and tools %}
    {{- "Tools:\\n" }}
    {%- for tool in tools %}
        {{- tool | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- ns.system + "<|eot_id|>" }}
{%- for message in messages if message.role != "system" %}
    {%- if loop.last and message.role == "user" %}
        {{- "<|start_header_id|>user<|end_header_id|>\\n\\n" + message.content | trim }}
        {{- "<|eot_id|>" }}
    {%- else %}
        {{- "<|start_header_id|>" + message.role + "<|end_header_id|>\\n\\n" }}
        {{- message.content | trim + "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- "<|start_header_id|>assistant<|end_header_id|>\\n\\n" }}
{%- endif %}
"""

BOS, EOS = "<s>", "</s>"
GEMMA_BOS, LLAMA3_BOS = "<bos>", "<|begin_of_text|>"
CHAT = [
    {"role": "user", "content": "Hello "},
    {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "What is 2+2?"},
]
REAL_TEMPLATES = {"chatml": CHATML, "llama3": LLAMA3, "gemma": GEMMA,
                  "llama31_tools": LLAMA31_TOOLS}


def test_chatml_renders():
    assert render_chat_template(CHATML, CHAT) == (
        "<|im_start|>user\nHello <|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n")


def test_llama3_renders():
    messages = [{"role": "system", "content": "Be brief."}, *CHAT[:1]]
    assert render_chat_template(LLAMA3, messages, bos_token=LLAMA3_BOS) == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_gemma_renders_and_refuses_a_system_role():
    assert render_chat_template(GEMMA, CHAT, bos_token=GEMMA_BOS,
                                add_generation_prompt=False) == (
        "<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi there"
        "<end_of_turn>\n<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n")
    with pytest.raises(ChatTemplateError, match="refused its input: System role not supported"):
        render_chat_template(GEMMA, [{"role": "system", "content": "x"}])


def _stock_render(source, **context):
    """The same template in stock Jinja (the reference for output equality)."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    import json
    env.filters["tojson"] = lambda v, indent=None: json.dumps(v, ensure_ascii=False,
                                                              indent=indent)
    env.globals["strftime_now"] = lambda fmt: time.strftime(fmt)
    return env.from_string(source).render(**context)


@pytest.mark.parametrize("name", REAL_TEMPLATES)
def test_real_templates_render_as_in_stock_jinja(name):
    source = REAL_TEMPLATES[name]
    messages = [{"role": "system", "content": " Sys "}, *CHAT]
    if name == "gemma":
        messages = CHAT
    tools = [{"name": "add", "parameters": {"a": "int", "b": "int"}, "note": "é"}]
    context = {"messages": messages, "add_generation_prompt": True, "bos_token": BOS,
               "eos_token": EOS, "tools": tools, "date_string": "26 Jul 2024"}
    expected = _stock_render(source, **context)
    got = render_chat_template(source, messages, bos_token=BOS, eos_token=EOS,
                               variables={"tools": tools, "date_string": "26 Jul 2024"})
    assert got == expected
    assert audit_chat_template(source) == []


def test_llama31_output_details():
    out = render_chat_template(LLAMA31_TOOLS, [{"role": "system", "content": "S"}, *CHAT],
                               variables={"tools": [{"name": "f"}]})
    assert out.startswith("<|start_header_id|>system<|end_header_id|>\n\nToday Date: ")
    assert time.strftime("%Y") in out  # strftime_now supplied the date
    assert 'Tools:\n{\n    "name": "f"\n}\n\nS<|eot_id|>' in out
    assert out.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


# ---- template injection -----------------------------------------------------------------

SSTI_PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "{{ lipsum.__globals__['os'].popen('touch PWNED').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('touch PWNED').read() }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
    "{{ ''|attr('__class__')|attr('__mro__') }}",
    "{{ ()|attr('_' * 2 ~ 'class' ~ '_' * 2) }}",
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "{{ config.items() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{% if c.__name__ == "
    "'catch_warnings' %}{{ c()._module.__builtins__['__import__']('os').system('touch PWNED')"
    " }}{% endif %}{% endfor %}",
    "{{ messages['__class__'] }}",
    "{{ messages|map(attribute='__class__')|list }}",
    "{{ raise_exception.__globals__ }}",
    "{{ (messages|first).__init__ }}",
    "{{ messages.__class__.mro() }}",
    "{% import 'os' as os %}{{ os }}",
    "{% include '/etc/passwd' %}",
    "{% extends 'base.html' %}",
    "{% set x = namespace %}{{ x.__init__ }}",
]


@pytest.mark.parametrize("payload", SSTI_PAYLOADS)
def test_injection_is_reported_refused_and_sandboxed(payload, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert audit_chat_template(payload), "the audit must report it"
    with pytest.raises(ChatTemplateError, match="suspicious template"):
        render_chat_template(payload, CHAT)
    # Even when allowed through, the sandbox gives nothing away.
    try:
        out = render_chat_template(payload, CHAT, allow_suspicious=True)
    except ChatTemplateError:
        out = ""
    for leak in ("<class", "module", "function", "uid=", "root:", "builtin"):
        assert leak not in out
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("source, finding", [
    ("{{ x._private }}", "private attribute '_private'"),
    ("{{ x.mro }}", "attribute 'mro'"),
    ("{{ _hidden }}", "private name '_hidden'"),
    ("{{ cycler }}", "global 'cycler'"),
    ("{{ namespace }}", "'namespace' used other than to create one"),
    ("{% for i in range(100000) %}{% endfor %}", "range of 100000 items"),
    ("{% for i in range(0, 10**9) %}{% endfor %}", "power operator"),
    ("{{ 'x' * 1000000 }}", "multiplication by 1000000"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}", "macro 'f' calls itself"),
    ("{% for a in m %}{% for b in a %}{% for c in b %}{% for d in c %}{% endfor %}"
     "{% endfor %}{% endfor %}{% endfor %}", "loops nested 4 deep"),
    ("{{ x|attr('y') }}", "attr filter"),
    ("{{ m|map(attribute=name)|list }}", "map filter with a computed attribute name"),
    ("{{ '__globals__' }}", "string constant naming a special attribute"),
    ("{% include 'x' %}", "loads another template (include)"),
    ("{% from 'x' import y %}", "loads another template (fromimport)"),
    ("{% for %}", "does not parse"),
    ("{{ 'a' }}" * 10_000, "over the 65536 limit"),
])
def test_audit_findings(source, finding):
    findings = audit_chat_template(source)
    assert any(finding in f for f in findings), findings
    assert all(f.startswith(("line ", "template is")) for f in findings)


def test_namespace_creation_is_not_a_finding():
    assert audit_chat_template("{% set ns = namespace(a=1) %}{{ ns.a }}") == []


def test_suspicious_template_renders_when_allowed():
    assert render_chat_template("{{ cycler is defined }}", [], allow_suspicious=True) \
        == "False"  # cycler, joiner and lipsum are not in the sandbox's globals


# ---- bombs ------------------------------------------------------------------------------

def test_output_bomb_is_stopped():
    bomb = "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}"
    with pytest.raises(ChatTemplateError, match="output is over 100000 characters"):
        render_chat_template(bomb, CHAT, max_output=100_000)


def test_output_limit_is_exact():
    source = "{{ 'x' * 10 }}"
    assert render_chat_template(source, [], max_output=10) == "x" * 10
    with pytest.raises(ChatTemplateError):
        render_chat_template(source, [], max_output=9)


@pytest.mark.parametrize("bomb", [
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "{% set s = 'x' * 5000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
    "{{ f(60) }}",
    "{% for i in range(10000) %}{% for j in (messages * 1000) %}{% for k in range(10000) %}"
    "{% endfor %}{% endfor %}{% endfor %}",
])
def test_time_bomb_is_stopped(bomb):
    start = time.monotonic()
    with pytest.raises(ChatTemplateError, match="longer than 0.2 s"):
        render_chat_template(bomb, CHAT, timeout=0.2, allow_suspicious=True)
    assert time.monotonic() - start < 2.0


MEMORY_BOMBS = [
    "{{ 'x' * 10**10 }}",
    "{% set n = 10000000000 %}{{ 'x' * n }}",
    "{% set n = 10000000000 %}{{ ['x'] * n }}",
    "{% set a = 99 %}{{ a ** 99999999 }}",
    "{% set ns = namespace(v=3) %}{% for i in range(64) %}{% set ns.v = ns.v * ns.v %}"
    "{% endfor %}{{ ns.v }}",
    "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
    "{% endfor %}",
    "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}",
    "{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = [ns.s, ns.s] %}"
    "{% endfor %}{{ ns.s }}",
    "{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = [ns.s, ns.s] %}"
    "{% endfor %}{{ ns.s|tojson }}",
    "{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = [ns.s, ns.s] %}"
    "{% endfor %}{{ ns.s|string|length }}",
    "{% set n = 10000000000 %}{{ 'a'|center(n) }}",
    "{% set n = 10000000000 %}{{ 'a'.ljust(n) }}",
    "{% set n = 90000 %}{{ ('\\t' * n).expandtabs(n) }}",
    "{% set n = 90000 %}{{ '%*d' % (n, 1) * 1 }}{{ ('%' ~ n ~ 'd') * 2 % (1, 2) }}",
    "{{ '%99999999d'|format(1) }}",
    "{{ '{:>99999999}'.format(1) }}",
    "{% set s = 'x' * 90000 %}{{ '{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}'.format(s) }}",
    "{% set s = 'x' * 90000 %}{{ s.join(s) }}",
    "{% set s = 'x' * 90000 %}{{ s|join(s) }}",
    "{% set s = 'x' * 90000 %}{{ s.replace('x', s) }}",
    "{% set s = 'x' * 90000 %}{{ s|replace('x', s) }}",
    "{% set s = ('x\\n' * 40000) %}{{ s|indent(90000) }}",
    "{% set big = 'x' * 90000 %}{% set y %}{% for i in range(5000) %}{{ big }}{% endfor %}"
    "{% endset %}{{ y|length }}",
    "{% set l = [['x'] * 1000] * 1000 %}{{ (l|sum(start=[]))|length }}",
    "{{ [1]|batch(100000000, 0)|list }}",
    "{{ range(100000000)|list }}",
    "{% set s = 'x' * 90000 %}{{ 'ab'.translate({97: s}) * 1 }}{{ s.translate({120: s}) }}",
    # Containers whose str() shows what they hold, multiplied by reference.
    "{% set a = namespace(x='y' * 90000) %}{% set b = [a] * 60000 %}{{ b }}",
    "{% set a = namespace(x='y' * 90000) %}{% set b = [a, a, a, a, a, a, a, a] %}{{ b }}",
    "{% set d = {'k': 'y' * 90000} %}{% set b = [d.items()] * 60000 %}{{ b }}",
    "{% set d = {'k': 'y' * 90000} %}{{ [d.values(), d.values()]|string }}",
    # Joining a generator: its length is unknown until it is counted.
    "{% set s = 'x' * 90000 %}{{ s.join(range(5000)|map('string')) }}",
    "{% set s = 'x' * 90000 %}{{ range(5000)|map('string')|join(s) }}",
]


@pytest.mark.parametrize("bomb", MEMORY_BOMBS)
def test_memory_bomb_is_stopped(bomb):
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(ChatTemplateError, match="template stopped"):
            render_chat_template(bomb, CHAT, max_output=100_000, allow_suspicious=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - start < 2.0
    assert peak < 32 << 20


def test_deep_recursion_is_an_error_not_a_crash():
    with pytest.raises(ChatTemplateError, match="RecursionError"):
        render_chat_template("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", [],
                             allow_suspicious=True)


def test_runtime_errors_become_chat_template_errors():
    with pytest.raises(ChatTemplateError, match="ZeroDivisionError"):
        render_chat_template("{{ 1 // 0 }}", [])
    with pytest.raises(ChatTemplateError, match="has no attribute 'missing'"):
        render_chat_template("{{ messages[0].missing() }}", CHAT)
    with pytest.raises(ChatTemplateError, match="template error: unexpected"):
        render_chat_template("{{ messages[0].upper( }}", CHAT, allow_suspicious=True)


def test_previous_trace_function_is_restored():
    def tracer(frame, event, arg):
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        render_chat_template(CHATML, CHAT)
        assert sys.gettrace() is tracer
        with pytest.raises(ChatTemplateError):
            render_chat_template("{% for i in range(9999) %}{% for j in range(9999) %}"
                                 "{% endfor %}{% endfor %}", [], timeout=0.05)
        assert sys.gettrace() is tracer
        assert template_sandbox._BUDGET.get(None) is None  # the render's budget is gone
    finally:
        sys.settrace(previous)


def test_renders_in_threads_keep_their_own_limits():
    results: dict[int, object] = {}

    def work(i):
        try:
            if i % 2:
                results[i] = render_chat_template(CHATML, CHAT)
            else:
                render_chat_template("{% for i in range(9999) %}{% for j in range(9999) %}"
                                     "{% endfor %}{% endfor %}", [], timeout=0.1)
        except ChatTemplateError as error:
            results[i] = error

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = render_chat_template(CHATML, CHAT)
    assert results[1] == results[3] == expected
    assert isinstance(results[0], ChatTemplateError)
    assert isinstance(results[2], ChatTemplateError)


TOKENS = ["{{", "}}", "{%", "%}", " for x in ", "range(", ")", "9", "99999", "'ab'", "*",
          "**", "~", "+", "|", "center", "join", "list", "x", "messages", "[", "]", ",",
          ".", "__class__", "set ", " = ", "endfor", "if ", "endif", "namespace(", "loop",
          " ", "\n", "macro m()", "endmacro", "m()", "'%s'", "%", "format", "tojson"]


@settings(max_examples=100)
@given(st.lists(st.sampled_from(TOKENS), max_size=24).map("".join))
def test_random_templates_only_raise_chat_template_error(source):
    assert all(isinstance(f, str) for f in audit_chat_template(source))
    try:
        out = render_chat_template(source, CHAT, allow_suspicious=True, timeout=0.1,
                                   max_output=10_000)
    except ChatTemplateError:
        return
    assert len(out) <= 10_000


def test_the_deadline_is_not_raised_inside_unrelated_callbacks():
    """A gc callback (or finalizer) that runs on the rendering thread after the
    deadline is not the render's code: it must run whole; the render still stops."""
    finished = []

    def on_gc(phase, info):
        finished.append(phase)

    def slow_then_collect():
        time.sleep(0.3)
        gc.collect()  # runs on_gc now, past the render's 0.1 s deadline
        return ""

    gc.callbacks.append(on_gc)
    try:
        with pytest.raises(ChatTemplateError, match="longer than"):
            render_chat_template("{{ slow() }}{% for i in range(5000) %}{{ i }}{% endfor %}",
                                 [], timeout=0.1, variables={"slow": slow_then_collect})
    finally:
        gc.callbacks.remove(on_gc)
    assert finished[:2] == ["start", "stop"]
