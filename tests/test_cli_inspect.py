"""`llmward inspect`: the summary of a GGUF file, its chat-template audit, and the
exit codes (0 ok, 1 refused file or --strict suspicious template, 2 input error)."""

import json
import subprocess
import sys

import gguf
import pytest

from gguf_files import (
    ARRAY,
    STRING,
    UINT8,
    RawGGUF,
    array,
    crafted_cases,
    string,
    write_tiny_model,
)
from llmward.cli import main
from llmward.cli.inspect_cmd import human_bytes, human_count

SSTI = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"


@pytest.fixture
def tiny(tmp_path):
    return write_tiny_model(tmp_path / "tiny.gguf")


def run_json(capsys, *argv):
    code = main(["inspect", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_text_summary(tiny, capsys):
    assert main(["inspect", str(tiny)]) == 0
    out = capsys.readouterr().out
    rows = {line[:16].strip(): line[16:] for line in out.splitlines()
            if not line.startswith(" ")}
    assert rows["architecture"] == "llama"
    assert rows["parameters"] == "3.3K (3,328)"
    assert rows["quantization"] == "Q8_0"
    assert rows["context length"] == "2048"
    assert rows["tensors"] == "4"
    assert rows["size"] == f"7.0 KiB ({tiny.stat().st_size} bytes)"
    assert rows["chat templates"] == "1"
    assert "  tokenizer.chat_template (196 chars, STRING): ok" in out
    assert "<|im_start|>" not in out  # the template text only with --show-template


def test_json_summary(tiny, capsys):
    code, report = run_json(capsys, str(tiny))
    assert code == 0
    assert report["ok"] is True
    assert (report["architecture"], report["parameter_count"], report["parameters"],
            report["quantization"], report["context_length"], report["tensor_count"]) == \
        ("llama", 3328, "3.3K", "Q8_0", 2048, 4)
    assert report["version"] == 3 and report["alignment"] == 32
    assert report["file_size"] == tiny.stat().st_size
    (template,) = report["chat_templates"]
    assert template == {"key": "tokenizer.chat_template", "type": "STRING", "length": 196,
                        "suspicious": False, "findings": []}


def test_show_template(tiny, capsys):
    assert main(["inspect", str(tiny), "--show-template"]) == 0
    assert "{% for message in messages %}" in capsys.readouterr().out
    _, report = run_json(capsys, str(tiny), "--show-template")
    assert report["chat_templates"][0]["template"].startswith("{% for message in messages")


def test_suspicious_template_is_reported_and_strict_fails(tmp_path, capsys):
    path = write_tiny_model(tmp_path / "evil.gguf", chat_template=SSTI)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "tokenizer.chat_template (" in out and "SUSPICIOUS" in out
    assert "private attribute '__globals__'" in out
    assert main(["inspect", str(path), "--strict"]) == 1
    assert "suspicious chat template (tokenizer.chat_template)" in capsys.readouterr().err
    code, report = run_json(capsys, str(path), "--strict")
    assert code == 1 and report["ok"] is False
    assert report["chat_templates"][0]["suspicious"] is True
    assert "line 1: global 'cycler'" in report["chat_templates"][0]["findings"]


def test_non_string_template_is_reported(tmp_path, capsys):
    path = tmp_path / "bytes.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_array("tokenizer.chat_template", [123, 123])  # stored as an integer array
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    code, report = run_json(capsys, str(path), "--strict")
    assert code == 1
    (entry,) = report["chat_templates"]
    assert entry["suspicious"] and entry["length"] is None
    assert entry["findings"][0].startswith("stored as ARRAY[")


@pytest.mark.parametrize("case", crafted_cases()[::4], ids=lambda c: c.name)
def test_crafted_file_exits_1_with_one_line(case, tmp_path, capsys):
    path = tmp_path / "crafted.gguf"
    path.write_bytes(case.data)
    assert main(["inspect", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"llmward: refused: {path}: ")
    assert case.message in line and line.endswith(f"(at byte offset {case.offset})")
    code, report = run_json(capsys, str(path))
    assert code == 1
    assert report["ok"] is False and report["offset"] == case.offset
    assert case.message in report["error"]


def test_missing_file_and_directory_exit_2(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope.gguf")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path)]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_template_array_entries_are_audited_separately(tmp_path, capsys):
    raw = RawGGUF().kv("tokenizer.chat_templates", ARRAY,
                       array(STRING, [string("rag"), string(SSTI)]))
    raw.kv("other.chat_template_bytes", ARRAY, array(UINT8, [b"\1"]))
    path = raw.write(tmp_path / "arr.gguf")
    code, report = run_json(capsys, str(path))
    assert code == 0
    by_key = {t["key"]: t for t in report["chat_templates"]}
    assert by_key["tokenizer.chat_templates[0]"]["suspicious"] is False
    assert by_key["tokenizer.chat_templates[1]"]["suspicious"] is True
    assert by_key["other.chat_template_bytes"]["suspicious"] is True


def test_module_entry_point(tiny):
    # The same llmward this test imports: the installed package (make test), or
    # the source tree through the inherited PYTHONPATH.
    result = subprocess.run([sys.executable, "-m", "llmward.cli", "inspect", str(tiny),
                             "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["architecture"] == "llama"


@pytest.mark.parametrize("n, text", [(0, "0"), (999, "999"), (1_500, "1.5K"),
                                     (268_098_176, "268M"), (7_241_732_096, "7.2B"),
                                     (70_553_706_496, "71B"), (1_000_000_000_000, "1.0T")])
def test_human_count(n, text):
    assert human_count(n) == text


@pytest.mark.parametrize("n, text", [(512, "512 B"), (7200, "7.0 KiB"),
                                     (5 << 30, "5.0 GiB"), (3 << 40, "3.0 TiB")])
def test_human_bytes(n, text):
    assert human_bytes(n) == text
