"""`harness schemas diff`: every kind of schema change is classified patch, minor or major per SPEC §1.

Each row of ``CHANGES`` mutates a copy of a real contract schema and states the expected bump, the kind of
the change and the JSONPath where it applies.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main as harness_main
from holyfields import (
    SCHEMA_DIR,
    Change,
    SchemaDiff,
    diff_paths,
    diff_schemas,
    load_schema_file,
    max_bump,
)

ENV = "core/event-envelope.v1.schema.json"
READY = "fireflies/transcript.ready.v1.schema.json"
CREATED = "theboard/meeting.created.v1.schema.json"
COMPLETED = "theboard/meeting.completed.v1.schema.json"
PROMPT = "agent/thread.prompt.v1.schema.json"
PR = "github/pr.opened.v1.schema.json"
N8N = "n8n/workflow.completed.v1.schema.json"

Schema = dict[str, Any]
Mutation = Callable[[Schema], None]


def prop(schema: Schema, *names: str) -> Schema:
    """The (nested) property schema ``names`` of an object schema."""
    node = schema
    for name in names:
        node = node["properties"][name]
    return node


def items(schema: Schema, *names: str) -> Schema:
    """The ``items`` schema of the array property ``names``."""
    return prop(schema, *names)["items"]


def rename(schema: Schema, old: str, new: str) -> None:
    schema["properties"] = {new if key == old else key: value for key, value in schema["properties"].items()}
    schema["required"] = [new if key == old else key for key in schema.get("required", [])]


def remove(schema: Schema, *names: str) -> None:
    parent = prop(schema, *names[:-1]) if len(names) > 1 else schema
    del parent["properties"][names[-1]]
    if names[-1] in parent.get("required", []):
        parent["required"].remove(names[-1])


# (id, file, prepare both sides | None, mutate the new side, expected bump, expected kind, expected path)
# fmt: off
CHANGES: list[tuple[str, str, Mutation | None, Mutation, str, str, str]] = [
    # ---------------------------------------------------------------- patch: annotations only
    ("description-only", READY, None, lambda s: prop(s, "title").update(description="The meeting's title."),
     "patch", "description_changed", "$.title"),
    ("description-only-nested-source.meta", ENV, None,
     lambda s: prop(s, "source", "meta").update(description="Anything the producer wants to add."),
     "patch", "description_changed", "$.source.meta"),
    ("title-only", READY, None, lambda s: s.update(title="Transcript ready"), "patch", "title_changed", "$"),
    ("examples-only", READY, None, lambda s: prop(s, "transcript_id").update(examples=["01ABC"]),
     "patch", "examples_changed", "$.transcript_id"),
    ("examples-only-array-items", READY, None, lambda s: items(s, "sentences")["properties"]["text"].update(
        examples=["Hello."]), "patch", "examples_changed", "$.sentences[*].text"),
    ("comment-only", PR, None, lambda s: s.update({"$comment": "owned by the github bridge"}),
     "patch", "comment_changed", "$"),
    # ---------------------------------------------------------------- properties and required
    ("add-optional-property", PR, None, lambda s: s["properties"].update(draft={"type": "boolean"}),
     "minor", "property_added", "$.draft"),
    ("add-optional-property-agent_context", ENV, None,
     lambda s: prop(s, "agent_context")["properties"].update(session_id={"type": "string"}),
     "minor", "property_added", "$.agent_context.session_id"),
    ("add-required-property", PR, None, lambda s: (s["properties"].update(base_branch={"type": "string"}),
                                                   s["required"].append("base_branch")),
     "major", "property_added_required", "$.base_branch"),
    ("optional-to-required", PR, None, lambda s: s["required"].append("url"),
     "major", "required_added", "$.url"),
    ("optional-to-required-agent_context", ENV, None,
     lambda s: prop(s, "agent_context")["required"].append("name"),
     "major", "required_added", "$.agent_context.name"),
    ("required-to-optional", PR, None, lambda s: s["required"].remove("author"),
     "minor", "required_removed", "$.author"),
    ("remove-optional-property", READY, None, lambda s: remove(s, "summary"), "major", "property_removed",
     "$.summary"),
    ("remove-required-property", CREATED, None, lambda s: remove(s, "strategy"), "major", "property_removed",
     "$.strategy"),
    ("remove-nested-source.meta", ENV, None, lambda s: remove(s, "source", "meta"),
     "major", "property_removed", "$.source.meta"),
    ("rename-property", CREATED, None, lambda s: rename(s, "topic", "subject"), "major", "property_renamed",
     "$.subject"),
    ("rename-property-called-title", PR, None, lambda s: rename(s, "title", "headline"), "major",
     "property_renamed", "$.headline"),
    ("array-items-required-added", COMPLETED, None, lambda s: items(s, "top_comments")["required"].append(
        "agent_name"), "major", "required_added", "$.top_comments[*].agent_name"),
    ("array-items-property-added", READY, None, lambda s: items(s, "sentences")["properties"].update(
        language={"type": "string"}), "minor", "property_added", "$.sentences[*].language"),
    # ---------------------------------------------------------------- enums
    ("enum-widened", ENV, None, lambda s: prop(s, "source", "type")["enum"].append("cron"),
     "minor", "enum_widened", "$.source.type"),
    ("enum-narrowed-agent_context", ENV, None,
     lambda s: prop(s, "agent_context", "type")["enum"].remove("letta"),
     "major", "enum_narrowed", "$.agent_context.type"),
    ("enum-value-replaced", N8N, None, lambda s: prop(s, "status").update(enum=["ok", "error"]),
     "major", "enum_changed", "$.status"),
    ("enum-added", PROMPT, None, lambda s: prop(s, "provider").update(enum=["anthropic", "openai"]),
     "major", "enum_added", "$.provider"),
    ("enum-removed", N8N, None, lambda s: prop(s, "status").pop("enum"), "minor", "enum_removed", "$.status"),
    ("enum-reordered-is-no-change", N8N, None, lambda s: prop(s, "status")["enum"].reverse(),
     "none", "", "$.status"),
    # ---------------------------------------------------------------- patterns and formats
    ("pattern-changed", ENV, None, lambda s: prop(s, "trace_context", "trace_id").update(
        pattern="^[0-9a-fA-F]{32}$"), "major", "pattern_changed", "$.trace_context.trace_id"),
    ("pattern-added", PR, None, lambda s: prop(s, "repo_owner").update(pattern="^[A-Za-z0-9-]+$"),
     "major", "pattern_added", "$.repo_owner"),
    ("pattern-removed", ENV, None, lambda s: prop(s, "version").pop("pattern"), "minor", "pattern_removed",
     "$.version"),
    ("pattern-changed-array-items", ENV, None, lambda s: items(s, "correlation_ids").update(pattern="^.+$"),
     "major", "pattern_changed", "$.correlation_ids[*]"),
    ("format-changed", READY, None, lambda s: prop(s, "transcript_url").update(format="uri-reference"),
     "major", "format_changed", "$.transcript_url"),
    ("format-added", PROMPT, None, lambda s: prop(s, "working_dir").update(format="uri"),
     "major", "format_added", "$.working_dir"),
    ("format-removed", READY, None, lambda s: prop(s, "date").pop("format"),
     "minor", "format_removed", "$.date"),
    # ---------------------------------------------------------------- types
    ("type-changed", CREATED, None, lambda s: prop(s, "max_rounds").update(type="string"),
     "major", "type_changed", "$.max_rounds"),
    ("type-widened-integer-to-number", CREATED, None, lambda s: prop(s, "max_rounds").update(type="number"),
     "minor", "type_widened", "$.max_rounds"),
    ("type-narrowed-number-to-integer", READY, None,
     lambda s: prop(s, "duration_minutes").update(type="integer"),
     "major", "type_narrowed", "$.duration_minutes"),
    ("type-made-nullable", PR, None, lambda s: prop(s, "url").update(type=["string", "null"]),
     "minor", "type_widened", "$.url"),
    ("type-changed-nested-source.meta", ENV, None, lambda s: prop(s, "source", "meta").update(type="string"),
     "major", "type_changed", "$.source.meta"),
    ("type-changed-array-items", PROMPT, None, lambda s: items(s, "tags").update(type="integer"),
     "major", "type_changed", "$.tags[*]"),
    # ---------------------------------------------------------------- const and default
    ("const-added", ENV, None, lambda s: prop(s, "version").update(const="1.0.0"), "major", "const_added",
     "$.version"),
    ("const-changed", ENV, lambda s: prop(s, "version").update(const="1.0.0"),
     lambda s: prop(s, "version").update(const="2.0.0"), "major", "const_changed", "$.version"),
    ("const-removed", ENV, lambda s: prop(s, "version").update(const="1.0.0"),
     lambda s: prop(s, "version").pop("const"), "minor", "const_removed", "$.version"),
    ("default-changed", ENV, None, lambda s: prop(s, "version").update(default="1.1.0"),
     "major", "default_changed", "$.version"),
    ("default-removed", ENV, None, lambda s: prop(s, "version").pop("default"), "major", "default_changed",
     "$.version"),
    ("default-added", CREATED, None, lambda s: prop(s, "strategy").update(default="sequential"),
     "minor", "default_added", "$.strategy"),
    # ---------------------------------------------------------------- bounds
    ("maximum-added", CREATED, None, lambda s: prop(s, "agent_count").update(maximum=50),
     "major", "bound_added", "$.agent_count"),
    ("maximum-tightened", CREATED, None, lambda s: prop(s, "max_rounds").update(maximum=50),
     "major", "bound_tightened", "$.max_rounds"),
    ("maximum-loosened", CREATED, None, lambda s: prop(s, "max_rounds").update(maximum=200),
     "minor", "bound_loosened", "$.max_rounds"),
    ("minimum-tightened", PR, None, lambda s: prop(s, "pr_number").update(minimum=10),
     "major", "bound_tightened", "$.pr_number"),
    ("minimum-loosened", CREATED, None, lambda s: prop(s, "max_rounds").update(minimum=0),
     "minor", "bound_loosened", "$.max_rounds"),
    ("maximum-removed", CREATED, None, lambda s: prop(s, "max_rounds").pop("maximum"),
     "minor", "bound_removed", "$.max_rounds"),
    ("minLength-removed", READY, None, lambda s: prop(s, "title").pop("minLength"), "minor", "bound_removed",
     "$.title"),
    ("minLength-tightened-array-items", READY, None, lambda s: items(s, "participants").update(minLength=3),
     "major", "bound_tightened", "$.participants[*]"),
    ("maxItems-added", READY, None, lambda s: prop(s, "sentences").update(maxItems=1000),
     "major", "bound_added", "$.sentences"),
    ("exclusiveMinimum-added", COMPLETED, None, lambda s: prop(s, "total_cost").update(exclusiveMinimum=0),
     "major", "bound_added", "$.total_cost"),
    ("multipleOf-loosened", COMPLETED, lambda s: prop(s, "total_cost").update(multipleOf=0.5),
     lambda s: prop(s, "total_cost").update(multipleOf=0.25), "minor", "bound_loosened", "$.total_cost"),
    ("uniqueItems-added", PROMPT, None, lambda s: prop(s, "tags").update(uniqueItems=True),
     "major", "bound_added", "$.tags"),
    # ---------------------------------------------------------------- additionalProperties and arrays
    ("additionalProperties-tightened", PR, None, lambda s: s.update(additionalProperties=False),
     "major", "additional_properties_tightened", "$"),
    ("additionalProperties-tightened-source.meta", ENV, None,
     lambda s: prop(s, "source", "meta").update(additionalProperties=False),
     "major", "additional_properties_tightened", "$.source.meta"),
    ("additionalProperties-typed-agent_context", ENV, None,
     lambda s: prop(s, "agent_context").update(additionalProperties={"type": "string"}),
     "major", "additional_properties_tightened", "$.agent_context"),
    ("additionalProperties-loosened", PR, lambda s: s.update(additionalProperties=False),
     lambda s: s.pop("additionalProperties"), "minor", "additional_properties_loosened", "$"),
    ("array-items-removed", PROMPT, None, lambda s: prop(s, "tags").pop("items"), "minor", "items_removed",
     "$.tags[*]"),
    # ---------------------------------------------------------------- keywords we cannot reason about
    ("not-added", PR, None, lambda s: prop(s, "title").update({"not": {"const": "WIP"}}),
     "major", "keyword_changed", "$.title"),
]
# fmt: on


def _load(relative: str) -> Schema:
    return load_schema_file(SCHEMA_DIR / relative)


@pytest.mark.parametrize(
    ("relative", "prepare", "mutate", "bump", "kind", "path"),
    [row[1:] for row in CHANGES],
    ids=[row[0] for row in CHANGES],
)
def test_change_is_classified(
    relative: str, prepare: Mutation | None, mutate: Mutation, bump: str, kind: str, path: str
) -> None:
    old = _load(relative)
    if prepare:
        prepare(old)
    new = copy.deepcopy(old)
    mutate(new)
    assert new != old or kind == "", "the mutation changed nothing"
    result = diff_schemas(old, new)
    assert result.bump == bump, result.render()
    if not kind:
        assert result.changes == []
        return
    matching = [change for change in result.changes if change.kind == kind and change.path == path]
    assert matching, f"no {kind} change at {path}:\n{result.render()}"
    assert all(change.bump == bump for change in matching)
    assert all(change.why for change in result.changes)
    assert result.compatible == (bump != "major")


def test_the_table_covers_at_least_fifteen_kinds() -> None:
    kinds = {row[5] for row in CHANGES if row[5]}
    assert len(kinds) >= 15, sorted(kinds)
    assert {"patch", "minor", "major", "none"} <= {row[4] for row in CHANGES}


def test_identical_schemas_give_none() -> None:
    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        schema = load_schema_file(path)
        assert diff_schemas(schema, copy.deepcopy(schema)).bump == "none", path


def _strip_annotations(schema: Any) -> Any:
    """A schema without description/examples/title keywords (property NAMES such as `title` stay)."""
    if isinstance(schema, list):
        return [_strip_annotations(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ("description", "examples", "title"):
            continue
        if key == "properties":
            out[key] = {name: _strip_annotations(sub) for name, sub in value.items()}
        elif key in ("enum", "required", "default", "const"):
            out[key] = value
        else:
            out[key] = _strip_annotations(value)
    return out


def test_removing_every_annotation_of_every_schema_is_a_patch() -> None:
    for path in sorted(SCHEMA_DIR.rglob("*.schema.json")):
        schema = load_schema_file(path)
        result = diff_schemas(schema, _strip_annotations(schema))
        assert result.bump == "patch", f"{path}:\n{result.render()}"
        assert {change.kind for change in result.changes} <= {
            "description_changed",
            "examples_changed",
            "title_changed",
        }


def test_overall_bump_is_the_largest_change() -> None:
    old = _load(CREATED)
    new = copy.deepcopy(old)
    prop(new, "topic")["description"] = "Subject."  # patch
    new["properties"]["facilitator"] = {"type": "string"}  # minor
    prop(new, "strategy")["enum"].append("random")  # minor
    assert diff_schemas(old, new).bump == "minor"
    prop(new, "max_rounds")["maximum"] = 10  # major
    result = diff_schemas(old, new)
    assert result.bump == "major" and not result.compatible
    assert {change.bump for change in result.changes} == {"patch", "minor", "major"}
    assert max_bump([change.bump for change in result.changes]) == "major"
    assert any("theboard.meeting.created.v2" in note for note in result.advice())


def test_changes_carry_schema_pointers_and_values() -> None:
    old = _load(ENV)
    new = copy.deepcopy(old)
    prop(new, "source", "type")["enum"].append("cron")
    (change,) = diff_schemas(old, new).changes
    assert isinstance(change, Change)
    assert change.schema_path == "/properties/source/properties/type/enum"
    assert change.keyword == "enum" and change.new[-1] == "cron" and "cron" not in change.old
    assert json.loads(json.dumps(change.as_dict()))["kind"] == "enum_widened"


def test_schema_without_refs_and_with_local_refs_compare_equal() -> None:
    inline = {
        "type": "object",
        "properties": {"who": {"type": "object", "properties": {"id": {"type": "string"}}}},
    }
    with_ref = {
        "type": "object",
        "definitions": {"who": {"type": "object", "properties": {"id": {"type": "string"}}}},
        "properties": {"who": {"$ref": "#/definitions/who"}},
    }
    assert diff_schemas(inline, with_ref).bump == "none"
    changed = copy.deepcopy(with_ref)
    changed["definitions"]["who"]["properties"]["id"]["pattern"] = "^[0-9]+$"
    result = diff_schemas(with_ref, changed)
    assert [(c.kind, c.path) for c in result.changes] == [("pattern_added", "$.who.id")]


def test_combinators() -> None:
    base = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    wider = {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}
    assert diff_schemas(base, wider).bump == "minor"
    assert diff_schemas(wider, base).bump == "major"
    described = {"anyOf": [{"type": "string", "description": "a name"}, {"type": "integer"}]}
    assert diff_schemas(base, described).bump == "patch"
    assert (
        diff_schemas({"allOf": [{"minLength": 1}]}, {"allOf": [{"minLength": 1}, {"maxLength": 9}]}).bump
        == "major"
    )
    assert diff_schemas({"oneOf": [{"type": "string"}]}, {"oneOf": [{"type": "integer"}]}).bump == "major"


def test_boolean_schemas() -> None:
    assert (
        diff_schemas({"properties": {"a": True}}, {"properties": {"a": {"type": "string"}}}).bump == "major"
    )
    assert (
        diff_schemas({"properties": {"a": {"type": "string"}}}, {"properties": {"a": True}}).bump == "minor"
    )
    assert (
        diff_schemas({"properties": {"a": {"type": "string"}}}, {"properties": {"a": False}}).bump == "major"
    )


# ------------------------------------------------------------------------------------------ folders and CLI


def _write(path: Path, schema: Schema) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(SCHEMA_DIR, old)
    shutil.copytree(SCHEMA_DIR, new)
    return old, new


def test_folder_diff_adds_and_removes_files(folders: tuple[Path, Path]) -> None:
    old, new = folders
    _write(new / "github/pr.merged.v1.schema.json", {"type": "object", "properties": {}})
    assert diff_paths(old, new).bump == "minor"
    schema = _load(PR)
    schema["required"].append("url")
    _write(new / PR, schema)
    (new / N8N).unlink()
    result = diff_paths(old, new)
    assert result.bump == "major"
    by_file = {(change.file, change.kind) for change in result.changes}
    assert {
        ("github/pr.merged.v1.schema.json", "schema_added"),
        (N8N, "schema_removed"),
        (PR, "required_added"),
    } <= by_file
    assert any("github.pr.opened.v2" in note for note in result.advice())


def test_cli_exit_codes_and_json(
    folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = folders
    before = _write(tmp_path / "before.json", _load(PR))
    wider = _load(PR)
    wider["properties"]["draft"] = {"type": "boolean"}
    after = _write(tmp_path / "after.json", wider)
    assert harness_main(["schemas", "diff", str(before), str(after)]) == 0
    out = capsys.readouterr().out
    assert "$.draft" in out and "property_added" in out and "bump: minor" in out

    breaking = _load(PR)
    breaking["required"].append("url")
    after = _write(tmp_path / "after.json", breaking)
    assert harness_main(["schemas", "diff", str(before), str(after), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["bump"] == "major" and report["compatible"] is False
    assert [(c["path"], c["kind"], c["bump"]) for c in report["changes"]] == [
        ("$.url", "required_added", "major")
    ]
    assert report["changes"][0]["why"]

    assert harness_main(["schemas", "diff", str(old), str(new)]) == 0
    assert "bump: none" in capsys.readouterr().out
    assert harness_main(["schemas", "diff", str(before), str(new)]) == 2
    assert harness_main(["schemas", "diff", str(before), str(tmp_path / "nope.json")]) == 2
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    assert harness_main(["schemas", "diff", str(before), str(tmp_path / "broken.json")]) == 2
    assert "harness schemas diff" in capsys.readouterr().err


def test_render_lists_each_change_and_the_verdict() -> None:
    old = _load(READY)
    new = copy.deepcopy(old)
    remove(new, "summary")
    text = SchemaDiff(diff_schemas(old, new).changes).render()
    assert "MAJOR" in text and "$.summary" in text and "property_removed" in text and "bump: major" in text
