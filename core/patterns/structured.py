"""Structured output, streamed: a JSON object that grows field by field, and what it cost.

`llm.with_structured_output(schema, method=...)` asks the model for an object instead of text.
The three methods put different things on the wire (see `METHODS`), and only some of them stream
the object as it is written. This module runs one call (`stream_structured`) and reads every
figure off its `CallTrace`, never off a clock of its own:

* the partial objects, re-parsed from the streamed JSON pieces the trace stamped (LangChain's
  own partial-JSON parser, `langchain_core.utils.json.parse_partial_json`, which is what
  `JsonOutputParser` yields while streaming);
* the time to the first field with a value, and to the first moment the text is a complete
  object valid against the schema (`structured_figures`);
* how many streamed pieces carried JSON syntax, key names or values (`token_split`);
* what the request carried (`wire_fields`): ``response_format``, ``tools``, ``tool_choice``.

Bad input gets a named problem, never a traceback: a custom schema that is not JSON or not a
JSON Schema (`parse_schema_text` raises `SchemaProblem`), a schema the server cannot compile
(HTTP 400, `core.call.errors`: "schema_rejected"), an object cut at max tokens ("cut_at_max_tokens",
not "invalid JSON").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.utils.json import parse_json_markdown, parse_partial_json

from core.call.errors import CallProblem, explain_error
from core.call.trace import CallTrace
from core.call.tracing import ensure_tracer, message_text

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import RunnableConfig

#: The three ways `with_structured_output` asks for an object, and what each sends.
METHODS: dict[str, str] = {
    "json_schema": "Sends the schema as `response_format: {type: json_schema}`. The server "
    "constrains the output to it (llama.cpp compiles it to a grammar; OpenAI's structured "
    "outputs); the JSON arrives as text and the object grows as it streams.",
    "function_calling": "Sends the schema as a tool (`tools` + a forced `tool_choice`). The "
    "object arrives as the arguments of a tool call; a server that ignores tools answers in "
    "prose and LangChain returns None, without an error.",
    "json_mode": "Sends `response_format: {type: json_object}` and no schema: the server only "
    "promises *some* JSON object. The schema's fields are whatever the prompt talks the model into.",
}

# The fields of a chat-completions request body that carry a structured-output request.
WIRE_KEYS = ("response_format", "tools", "tool_choice", "parallel_tool_calls")

# A custom schema without a title gets this one: LangChain names the schema (and OpenAI the
# response format or tool) after it, and refuses a dict schema without one.
DEFAULT_TITLE = "Answer"


@dataclass(frozen=True)
class SchemaPreset:
    """A ready-made schema and a prompt that fits it.

    Attributes:
        title: what the picker shows.
        prompt: a question whose answer fits the schema.
        schema: the JSON Schema (a dict with a ``title``).
        note: one sentence shown under the picker (what the preset demonstrates).
    """

    title: str
    prompt: str
    schema: dict[str, Any]
    note: str = ""


def _text(max_length: int = 40) -> dict[str, Any]:
    # Short strings keep a small model's object inside a few dozen tokens: a 135M model left to
    # itself repeats a phrase until max tokens.
    return {"type": "string", "maxLength": max_length}


PRESETS: dict[str, SchemaPreset] = {
    "person": SchemaPreset(
        "Person",
        "Invent a person who likes cats.",
        {
            "title": "Person", "description": "A person.", "type": "object",
            "properties": {
                "name": _text(), "age": {"type": "integer", "minimum": 0, "maximum": 120},
                "hobbies": {"type": "array", "items": _text(30), "maxItems": 3},
            },
            "required": ["name", "age", "hobbies"], "additionalProperties": False,
        },
        "A string, a number and a list: watch each appear in turn.",
    ),
    "review": SchemaPreset(
        "Film review",
        "Review the film Jaws.",
        {
            "title": "FilmReview", "description": "A short film review.", "type": "object",
            "properties": {
                "title": _text(), "year": {"type": "integer", "minimum": 1900, "maximum": 2030},
                "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                "verdict": {"type": "string", "enum": ["watch", "skip"]},
                "summary": _text(80),
            },
            "required": ["title", "year", "rating", "verdict", "summary"],
            "additionalProperties": False,
        },
        "An enum and bounded numbers: the grammar allows nothing else.",
    ),
    "ticket": SchemaPreset(
        "Support ticket",
        "My laptop will not turn on after the update. Make a support ticket.",
        {
            "title": "SupportTicket", "description": "A support ticket.", "type": "object",
            "properties": {
                "summary": _text(60),
                "priority": {"type": "string", "enum": ["low", "medium", "high"]},
                "component": _text(30),
                "steps": {"type": "array", "items": _text(50), "maxItems": 3},
            },
            "required": ["summary", "priority", "component", "steps"],
            "additionalProperties": False,
        },
        "Nested list of strings: most of the tokens are values.",
    ),
    "unsupported": SchemaPreset(
        "A schema the server cannot compile",
        "Invent a person.",
        {
            "title": "Broken", "type": "object",
            "properties": {"name": {"$ref": "#/$defs/Name"}}, "required": ["name"],
        },
        "Valid JSON Schema, but its `$ref` points nowhere: llama.cpp cannot build a grammar "
        "from it and answers HTTP 400.",
    ),
}


JSON_MODE_SUFFIX = " Answer in JSON."


def prompt_for(method: str, prompt: str) -> str:
    """The prompt as sent: `json_mode` needs the word JSON in the messages.

    OpenAI refuses ``response_format: json_object`` unless a message mentions JSON, and the
    mode carries no schema, so the prompt is all the model knows of the wanted shape.

    Example:
        >>> prompt_for("json_mode", "Invent a person.")
        'Invent a person. Answer in JSON.'
        >>> prompt_for("json_schema", "Invent a person.")
        'Invent a person.'
    """
    if method == "json_mode" and "json" not in prompt.lower():
        return prompt + JSON_MODE_SUFFIX
    return prompt


class SchemaProblem(ValueError):
    """A custom schema the lab cannot use; the message says where and why."""


def parse_schema_text(text: str) -> dict[str, Any]:
    """Read a custom JSON Schema typed by a person, or say precisely what is wrong with it.

    The schema must be JSON, a JSON object, describe an object (``"type": "object"``: every
    method needs an object at the top) and be valid JSON Schema (checked against its
    meta-schema). A missing ``title`` becomes `DEFAULT_TITLE`.

    Raises:
        SchemaProblem: with the line and column of a JSON error, or the path of a schema error.

    Example:
        >>> parse_schema_text('{"type": "object", "properties": {"a": {"type": "string"}}}')["title"]
        'Answer'
        >>> parse_schema_text('{"type": "object", "properties": {"a": {"type": "strin"}}}')
        Traceback (most recent call last):
        ...
        core.patterns.structured.SchemaProblem: Not a valid JSON Schema at properties → a → type: 'strin' is not valid under any of the given schemas.
    """
    if not text.strip():
        raise SchemaProblem("The schema is empty: paste a JSON Schema, or pick a preset.")
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaProblem(f"The schema is not JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}.") from None
    if not isinstance(schema, dict):
        raise SchemaProblem(f"The schema must be a JSON object, not a {type(schema).__name__}.")
    if schema.get("type") != "object":
        raise SchemaProblem('The schema must describe an object at the top ("type": "object"): '
                            "every method returns one object.")
    import jsonschema  # loaded on first use: only this page needs it

    validator = jsonschema.validators.validator_for(schema)
    try:
        validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = " → ".join(str(p) for p in exc.path) or "the top"
        raise SchemaProblem(f"Not a valid JSON Schema at {where}: {exc.message}.") from None
    return {"title": DEFAULT_TITLE, **schema}


def schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    """Why `value` does not satisfy `schema` ("path: message" each); empty when it does.

    Example:
        >>> schema_errors({"a": 1}, {"type": "object", "properties": {"a": {"type": "string"}}})
        ["a: 1 is not of type 'string'"]
    """
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    return [f"{'/'.join(str(p) for p in e.path) or '(top)'}: {e.message}" for e in errors]


# --- reading the streamed JSON off the trace ---------------------------------------------------


def json_pieces(trace: CallTrace) -> list[tuple[float, str]]:
    """The streamed pieces of the JSON, with the time each arrived (perf_counter).

    A JSON answer streams as text; `function_calling` streams it as tool-call arguments instead,
    so the arguments are taken when any chunk carried some.

    Example:
        >>> from core.call.trace import StreamChunk
        >>> t = CallTrace("r", chunks=[StreamChunk(1.0, ""), StreamChunk(1.1, '{"a"'), StreamChunk(1.2, ': 1}')])
        >>> json_pieces(t)
        [(1.1, '{"a"'), (1.2, ': 1}')]
    """
    if any(c.args for c in trace.chunks):
        return [(c.at, c.args) for c in trace.chunks if c.args]
    return [(c.at, c.text) for c in trace.chunks if c.text]


@dataclass(frozen=True)
class PartialFrame:
    """The object as it stood after one streamed piece.

    Attributes:
        at_s: seconds from the call's origin.
        value: LangChain's partial parse of everything so far (None before it parses).
        fields: top-level fields that have a value.
    """

    at_s: float
    value: Any
    fields: int


def _partial(text: str) -> Any:
    try:
        return parse_json_markdown(text, parser=parse_partial_json)
    except (ValueError, TypeError):  # not even a prefix of JSON yet
        return None


def _strict(text: str) -> Any:
    try:
        return parse_json_markdown(text, parser=json.loads)
    except (ValueError, TypeError):
        return None


def filled_fields(value: Any) -> int:
    """Top-level fields of a partial object that hold a value ("" / [] / {} / None do not).

    Example:
        >>> filled_fields({"name": "Lu", "age": None, "hobbies": [""]})
        1
    """
    if not isinstance(value, dict):
        return 0

    def has(v: Any) -> bool:
        if isinstance(v, (list, tuple)):
            return any(has(item) for item in v)
        if isinstance(v, dict):
            return any(has(item) for item in v.values())
        return v is not None and v != ""

    return sum(1 for v in value.values() if has(v))


def partial_frames(trace: CallTrace) -> list[PartialFrame]:
    """Every distinct partial object, in the order and at the times the pieces arrived.

    Example:
        >>> from core.call.trace import StreamChunk
        >>> t = CallTrace("r", origin=0.0, chunks=[StreamChunk(0.1, '{"name": "Lu'),
        ...     StreamChunk(0.2, 'na", "age"'), StreamChunk(0.3, ': 20}')])
        >>> [(f.at_s, f.value, f.fields) for f in partial_frames(t)]
        [(0.1, {'name': 'Lu'}, 1), (0.2, {'name': 'Luna'}, 1), (0.3, {'name': 'Luna', 'age': 20}, 2)]
    """
    frames: list[PartialFrame] = []
    text = ""
    for at, piece in json_pieces(trace):
        text += piece
        value = _partial(text)
        if value is None or (frames and frames[-1].value == value):
            continue
        frames.append(PartialFrame(at - trace.origin, value, filled_fields(value)))
    return frames


@dataclass(frozen=True)
class TokenSplit:
    """Streamed pieces of the JSON by what they carried.

    A piece counts as *value* if any character of it belongs to a value (inside a string value,
    a number, true/false/null), else as *key* if any belongs to a key name, else as *syntax*
    (braces, brackets, quotes, colons, commas, white space). A piece is about one token on
    llama.cpp and OpenAI (a few carry two: 34 pieces for 37 tokens measured here), so the shares
    are the token shares to within a few percent.
    """

    syntax: int
    keys: int
    values: int

    @property
    def total(self) -> int:
        return self.syntax + self.keys + self.values

    def share(self, part: int) -> float | None:
        return part / self.total if self.total else None


def char_roles(text: str) -> list[str]:
    """What each character of a JSON text is: "s" syntax, "k" key name, "v" value.

    A small scanner, forgiving of a cut text (it never raises).

    Example:
        >>> "".join(char_roles('{"ab": [1, "c"]}'))
        'sskkssssvsssvsss'
    """
    roles: list[str] = []
    stack: list[str] = []  # "{" or "["
    expect_key = False
    in_string = False
    string_role = "v"
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
                roles.append(string_role)
            elif ch == "\\":
                escaped = True
                roles.append(string_role)
            elif ch == '"':
                in_string = False
                roles.append("s")
            else:
                roles.append(string_role)
            continue
        if ch == '"':
            in_string = True
            string_role = "k" if (stack and stack[-1] == "{" and expect_key) else "v"
            roles.append("s")
        elif ch in "{[":
            stack.append(ch)
            expect_key = ch == "{"
            roles.append("s")
        elif ch in "}]":
            if stack:
                stack.pop()
            expect_key = False
            roles.append("s")
        elif ch == ":":
            expect_key = False
            roles.append("s")
        elif ch == ",":
            expect_key = bool(stack) and stack[-1] == "{"
            roles.append("s")
        elif ch.isspace() or ch == "`":  # a fenced ```json block's back-ticks are framing too
            roles.append("s")
        else:  # numbers, true/false/null (and the word "json" after a fence: rare, counted)
            roles.append("v")
    return roles


def token_split(pieces: Sequence[str]) -> TokenSplit:
    """Count streamed pieces by what they carried (see `TokenSplit`).

    Example:
        >>> token_split(['{"', 'name', '":', ' "', 'Luna', '"}'])
        TokenSplit(syntax=4, keys=1, values=1)
    """
    roles = char_roles("".join(pieces))
    counts = {"s": 0, "k": 0, "v": 0}
    position = 0
    for piece in pieces:
        mine = set(roles[position:position + len(piece)])
        position += len(piece)
        counts["v" if "v" in mine else "k" if "k" in mine else "s"] += 1
    return TokenSplit(syntax=counts["s"], keys=counts["k"], values=counts["v"])


@dataclass(frozen=True)
class StructuredFigures:
    """One structured call's figures, all read from its trace.

    Attributes:
        first_piece_s: the first piece of JSON arrived (the first token, for a JSON answer).
        first_field_s: the first top-level field with a value appeared in the partial object.
        valid_object_s: the text so far first parsed as complete JSON valid against the schema.
        split: the streamed pieces by what they carried.
        trace: the call's trace: its end-to-end time is ``trace.e2e_s``.
    """

    first_piece_s: float | None
    first_field_s: float | None
    valid_object_s: float | None
    split: TokenSplit
    trace: CallTrace = field(repr=False, compare=False)

    @property
    def output_tokens(self) -> int | None:
        """As the endpoint reported them (None: not reported)."""
        usage = self.trace.usage
        return usage.output_tokens if usage is not None else None


def structured_figures(trace: CallTrace, schema: dict[str, Any] | None) -> StructuredFigures:
    """Time to the first field, time to a valid object and the token split, from the trace.

    Example:
        >>> from core.call.trace import StreamChunk
        >>> t = CallTrace("r", origin=0.0, finished=0.5, chunks=[StreamChunk(0.1, '{"'),
        ...     StreamChunk(0.2, 'a'), StreamChunk(0.3, '": "'), StreamChunk(0.35, 'x'),
        ...     StreamChunk(0.4, '"}')])
        >>> f = structured_figures(t, {"type": "object", "required": ["a"]})
        >>> f.first_piece_s, f.first_field_s, f.valid_object_s, f.split
        (0.1, 0.35, 0.4, TokenSplit(syntax=3, keys=1, values=1))
    """
    pieces = json_pieces(trace)
    first_field = next((f.at_s for f in partial_frames(trace) if f.fields), None)
    valid = None
    text = ""
    for at, piece in pieces:
        text += piece
        # Only a piece that can end an object is worth a strict parse (a few per answer).
        if "}" not in piece:
            continue
        value = _strict(text)
        if isinstance(value, dict) and (schema is None or not schema_errors(value, schema)):
            valid = at - trace.origin
            break
    return StructuredFigures(
        first_piece_s=(pieces[0][0] - trace.origin) if pieces else None,
        first_field_s=first_field,
        valid_object_s=valid,
        split=token_split([p for _, p in pieces]),
        trace=trace,
    )


def wire_fields(trace: CallTrace | None) -> dict[str, Any] | None:
    """What the call's request body carried for structured output (`WIRE_KEYS`).

    Read from the body the traced HTTP client sent (the last attempt's). None when no request
    was seen; {} when the body held none of those fields. Keys travel in headers, never here.

    Example:
        >>> from core.call.trace import HttpAttempt
        >>> t = CallTrace("r", attempts=[HttpAttempt(1, 0.0, request_body=b'{"model": "m", '
        ...     b'"response_format": {"type": "json_object"}}')])
        >>> wire_fields(t)
        {'response_format': {'type': 'json_object'}}
    """
    if trace is None or trace.attempt is None or not trace.attempt.request_body:
        return None
    try:
        body = json.loads(trace.attempt.request_body)
    except ValueError:
        return None
    return {k: body[k] for k in WIRE_KEYS if isinstance(body, dict) and k in body}


# --- the runner ----------------------------------------------------------------------------------


@dataclass
class StructuredRun:
    """One structured-output call, what it returned and what it cost.

    Attributes:
        method: "json_schema", "function_calling" or "json_mode".
        schema: the JSON Schema asked for.
        prompt: the question.
        include_raw: whether LangChain was asked for the raw message and the parse error too.
        trace: the model call's trace (None if the call never started).
        parsed: the final object (None: there is none).
        raw_text: the raw JSON as it came (text, or tool-call arguments).
        parsing_error: LangChain's parse error, returned instead of raised (include_raw=True).
        problem: the call failed (cut at max tokens, schema rejected, ...), explained.
        note: the call worked but gave no object, in one sentence (e.g. no tool call made).
        updates: how many times the object grew while streaming (as LangChain yielded it).
    """

    method: str
    schema: dict[str, Any]
    prompt: str
    include_raw: bool = False
    trace: CallTrace | None = None
    parsed: Any = None
    raw_text: str = ""
    parsing_error: str | None = None
    problem: CallProblem | None = None
    note: str | None = None
    updates: int = 0
    errors_against_schema: list[str] = field(default_factory=list)

    @property
    def figures(self) -> StructuredFigures | None:
        return structured_figures(self.trace, self.schema) if self.trace is not None else None

    @property
    def frames(self) -> list[PartialFrame]:
        return partial_frames(self.trace) if self.trace is not None else []

    @property
    def wire(self) -> dict[str, Any] | None:
        return wire_fields(self.trace)


def stream_structured(
    model: BaseChatModel,
    schema: dict[str, Any],
    prompt: str,
    *,
    method: str = "json_schema",
    include_raw: bool = False,
    config: RunnableConfig | None = None,
    secrets: Sequence[str] = (),
    on_partial: Callable[[Any], None] | None = None,
) -> StructuredRun:
    """Stream ``model.with_structured_output(schema, method=method)``, handing on each partial.

    With a dict schema LangChain parses with `JsonOutputParser`, which yields a bigger object
    each time a streamed piece changes it: `on_partial` gets each one (the page draws it). With
    ``include_raw=True`` LangChain gathers the whole message before parsing, so the object
    arrives once, beside the raw message and the parse error (returned, not raised).

    The call is traced by the config's `CallTracer` (one is added when there is none); every
    figure is read from that trace. Failures are returned as `StructuredRun.problem`, never
    raised.

    Example (calls a real model, so not a doctest)::

        run = stream_structured(llm, PRESETS["person"].schema, "Invent a person.", on_partial=print)
        run.parsed, run.figures.valid_object_s
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    tag = f"structured:{uuid.uuid4().hex[:12]}"  # finds this call's trace among the session's
    config, tracer = ensure_tracer(config, pattern="structured")
    config = {**config, "tags": [*(config.get("tags") or []), tag]}
    run = StructuredRun(method=method, schema=schema, prompt=prompt, include_raw=include_raw)
    failure: BaseException | None = None
    try:
        runnable = model.with_structured_output(schema, method=method, include_raw=include_raw)
        for part in runnable.stream(prompt_for(method, prompt), config=config):
            if include_raw and isinstance(part, dict):
                if "raw" in part:
                    run.raw_text = message_text(part["raw"]) or _tool_args(part["raw"])
                if part.get("parsed") is not None:
                    run.parsed = part["parsed"]
                    run.updates += 1
                    if on_partial is not None:
                        on_partial(run.parsed)
                if part.get("parsing_error") is not None:
                    run.parsing_error = str(part["parsing_error"])
                continue
            run.parsed = part
            run.updates += 1
            if on_partial is not None:
                on_partial(part)
    except Exception as exc:  # explained below from what the trace saw
        failure = exc
    run.trace = next((t for t in tracer.traces() if tag in t.tags), None)
    if run.trace is not None and not run.raw_text:
        run.raw_text = "".join(piece for _, piece in json_pieces(run.trace))
    if failure is not None:
        traced = run.trace.outcome.problem if run.trace and run.trace.outcome else None
        run.problem = traced or explain_error(failure, *secrets, evidence=run.trace.attempt if run.trace else None)
        return run
    if run.parsed is None and run.parsing_error is None:
        run.note = _why_no_object(run)
    elif isinstance(run.parsed, dict):
        run.errors_against_schema = schema_errors(run.parsed, schema)
    return run


def _tool_args(message: Any) -> str:
    calls = getattr(message, "tool_calls", None) or []
    return json.dumps(calls[0].get("args")) if calls else ""


def _why_no_object(run: StructuredRun) -> str:
    if run.method == "function_calling":
        return ("The model made no tool call, so LangChain returned None without an error: this "
                "endpoint ignored the `tools` in the request (see what was sent) and answered "
                "in text.")
    return "The answer held no JSON object, so there is nothing to parse."
