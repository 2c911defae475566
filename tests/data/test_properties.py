"""Property tests: whatever bytes or records come in, the data stages fail only with the
framework's own errors (one line for the user), never with a traceback."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.data.formats import FORMATS, detect_format, to_examples
from framework.data.records import Record, read_records
from framework.data.validate import validate
from framework.errors import FrameworkError

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    "instruction",
    "input",
    "output",
    "system",
    "history",
    "question",
    "answer",
    "prompt",
    "completion",
    "messages",
    "conversations",
    "chosen",
    "rejected",
    "text",
    "task",
    "role",
    "content",
    "from",
    "value",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, width=16),
    st.text(max_size=12),
    st.sampled_from(["", " ", "user", "assistant", "gpt", "human", "system", "<p>x</p>", "a\x00b"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=8,
)
turn = st.fixed_dictionaries(
    {}, optional={"role": scalars, "content": json_values, "from": scalars, "value": json_values}
)
record_data = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6),
    st.fixed_dictionaries({"messages": st.lists(turn, max_size=5)}, optional={"system": scalars, "task": scalars}),
    st.fixed_dictionaries({"conversations": st.lists(turn, max_size=5)}),
    st.fixed_dictionaries(
        {"instruction": scalars, "output": scalars}, optional={"input": scalars, "history": json_values}
    ),
    st.fixed_dictionaries({"prompt": json_values, "chosen": json_values}, optional={"rejected": json_values}),
)


def run_stages(records, task_prompts=None):
    try:
        fmt = detect_format(records)
    except FrameworkError:
        fmt = None
    for candidate in [fmt] if fmt else list(FORMATS):
        examples, problems = to_examples(records, candidate, task_system_prompts=task_prompts)
        assert len(examples) + len(problems) == len(records)
        for strict in (False, True):
            try:
                validate(examples, strict=strict, problems=problems)
            except FrameworkError as exc:
                assert "\n" not in str(exc)


@SETTINGS
@given(st.lists(record_data, min_size=1, max_size=6), st.booleans())
def test_random_records_fail_only_with_framework_errors(rows, with_tasks):
    records = [Record(row, "r.jsonl", i) for i, row in enumerate(rows, start=1)]
    run_stages(records, {"a": "You do a."} if with_tasks else None)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("props")


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    buffer = bytearray(data)
    for kind, at, byte in edits:
        if not buffer:
            buffer.append(byte)
            continue
        at %= len(buffer)
        if kind == 0:
            buffer[at] = byte
        elif kind == 1:
            del buffer[at]
        else:
            buffer.insert(at, byte)
    return bytes(buffer)


@SETTINGS
@given(
    st.lists(record_data, min_size=1, max_size=4),
    st.sampled_from(["a.jsonl", "a.json", "a.csv", "a.txt"]),
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
)
def test_mutated_files_fail_only_with_framework_errors(scratch, rows, name, edits):
    if name.endswith(".jsonl"):
        content = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    elif name.endswith(".json"):
        content = json.dumps(rows, ensure_ascii=False, indent=1)
    elif name.endswith(".csv"):
        content = "instruction,input,output\n" + "".join(f'"{i}",,"{json.dumps(r)[:20]}"\n' for i, r in enumerate(rows))
    else:
        content = "\n".join(json.dumps(r) for r in rows)
    path = scratch / name
    path.write_bytes(mutate(content.encode("utf-8"), edits))
    try:
        records = read_records(path)
    except FrameworkError as exc:
        assert "\n" not in str(exc)
        return
    run_stages(records)


@SETTINGS
@given(st.binary(max_size=200))
def test_arbitrary_bytes_fail_only_with_framework_errors(scratch, blob):
    for name in ("b.jsonl", "b.json", "b.csv", "b.parquet"):
        path = scratch / name
        path.write_bytes(blob)
        try:
            run_stages(read_records(path))
        except FrameworkError as exc:
            assert "\n" not in str(exc)
