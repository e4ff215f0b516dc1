"""GGUF chat templates: names built from string pieces are evaluated, or fail closed."""

from __future__ import annotations

import struct

import pytest

from bastion.core.types import Severity
from bastion.model.scan import scan_bytes


def gguf(template: str) -> bytes:
    key = b"tokenizer.chat_template"
    val = template.encode()
    kv = struct.pack("<Q", len(key)) + key + struct.pack("<I", 8) + struct.pack("<Q", len(val)) + val
    return b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kv


def worst(template: str) -> Severity | None:
    return max((f.severity for f in scan_bytes(gguf(template))), default=None)


@pytest.mark.parametrize(
    "template",
    [
        "{% set n = '__cla' ~ 'ss__' %}{{ x[n] }}",
        "{{ x['_'*2 + 'globals' + '_'*2] }}",
        "{{ x['_' * 2 ~ 'class' ~ '_' * 2] }}",
        "{{ lipsum|attr('_'*2+'globals'+'_'*2) }}",
        "{% set g = '_'*2+'globals'+'_'*2 %}{{ lipsum|attr(g) }}",
        "{% set a = '__cla' %}{% set a = a ~ 'ss__' %}{{ ''|attr(a) }}",
        "{% set b %}__glo{% endset %}{% set c = b ~ 'bals__' %}{{ cycler.__init__[c] }}",
        "{% set ns = namespace(k='__cla') %}{% set ns.k = ns.k ~ 'ss__' %}{{ x[ns.k] }}",
        "{% for k in ['__cla' ~ 'ss__'] %}{{ x[k] }}{% endfor %}",
        "{{ x[['__cla', 'ss__']|join] }}",
        "{{ x[['__cla', 'ss__']|join('')] }}",
        "{{ x['__CLASS__'|lower] }}",
        "{{ x['__xlass__'|replace('x', 'c')] }}",
        "{{ [x]|map(attribute='__cla' ~ 'ss__')|list }}",
        "{{ [x]|map('attr', '__cla' ~ 'ss__')|list }}",
        "{{ x['o' ~ 's'] }}",
        "{{ x[y ~ 'ss__'] }}",  # built from an unknown piece: cannot be evaluated, fail closed
        "{{ x|attr(y) }}",
        "{{ [x]|selectattr(y)|list }}",
        "{{ x[message.role ~ '_'] }}",
    ],
)
def test_built_names_fail_the_default_threshold(template: str) -> None:
    sev = worst(template)
    assert sev is not None and sev >= Severity.HIGH, template


@pytest.mark.parametrize(
    "template",
    [
        # ChatML / Qwen style with tools
        "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- for tool in tools %}{{- tool | tojson }}{%- endfor %}"
        "{%- endif %}{%- for message in messages %}{%- if message.role == 'user' or (message.role == 'system'"
        " and not loop.first) %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
        "{%- elif message.role == 'assistant' %}{%- if message.tool_calls %}{%- for tool_call in message.tool_calls %}"
        "{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}"
        "{{- tool_call.name }}{{- tool_call.arguments | tojson }}{%- endfor %}{%- endif %}{%- endif %}"
        "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
        # Llama 3 style
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
        " + message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
        "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}",
        # Mistral style with alternation check and a namespace
        "{%- set ns = namespace(found=false) -%}{%- for message in messages -%}"
        "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
        "{{ raise_exception('roles must alternate') }}{%- endif -%}{%- set ns.found = true -%}"
        "{%- if messages[loop.index0 - 1]['role'] == 'user' %}{{ messages[0]['content'] }}{% endif -%}"
        "{{ message['content'] }}{%- endfor -%}",
        # Gemma style
        "{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant'"
        " else message['role'] %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim"
        " + '<end_of_turn>\\n' }}{% endfor %}",
        "{{ m['tool_' ~ 'calls'] }}{{ m[i] }}{{ m[loop.index0 + 1] }}",
    ],
)
def test_real_world_templates_stay_clean(template: str) -> None:
    assert worst(template) is None, [f.evidence for f in scan_bytes(gguf(template))]


def test_deeply_nested_expression_fails_closed() -> None:
    sev = worst("{{ x[" + "'a' ~ " * 3000 + "'b'] }}")
    assert sev is not None and sev >= Severity.HIGH
