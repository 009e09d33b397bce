"""Pages built at `mkdocs build` time from the code, so they cannot fall behind it:
the spec's JSON Schema (harness.spec.json_schema) and the metric catalogue
(harness.protocol.METRICS)."""

from __future__ import annotations

import json

import mkdocs_gen_files

from harness import protocol, spec


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _type(schema: dict) -> str:
    """A short reading of a JSON Schema type: `integer >= 1`, `list of string`, ..."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    if "anyOf" in schema:
        kinds = [_type(s) for s in schema["anyOf"] if s.get("type") != "null"]
        kinds = list(dict.fromkeys(k for k in kinds if k))
        optional = any(s.get("type") == "null" for s in schema["anyOf"])
        text = " or ".join(kinds) + (" (optional)" if optional else "")
        if "items" in schema:  # json_schema() names the list's allowed items beside anyOf
            text += f"; items: {_type(schema['items'])}"
        return text
    kind = schema.get("type", "")
    if kind == "array":
        inner = _type(schema.get("items", {}))
        kind = f"list of {inner}" if inner else "list"
    elif kind == "object" and "additionalProperties" in schema:
        inner = schema["additionalProperties"]
        kind = f"table of {_type(inner)}" if isinstance(inner, dict) and inner else "table"
    bounds = [
        f"{sign} {schema[key]}"
        for key, sign in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
            ("minItems", "items at least"),
        )
        if key in schema
    ]
    if "pattern" in schema:
        bounds.append(f"matching `{schema['pattern']}`")
    return ", ".join([kind, *bounds]) if kind else ", ".join(bounds)


def _fields_table(schema: dict) -> list[str]:
    required = set(schema.get("required", []))
    rows = ["| field | type | default | what it is |", "| --- | --- | --- | --- |"]
    for name, prop in schema.get("properties", {}).items():
        default = (
            "required"
            if name in required
            else (f"`{json.dumps(prop['default'])}`" if "default" in prop else "")
        )
        rows.append(
            f"| `{name}` | {_cell(_type(prop))} | {_cell(default)} | "
            f"{_cell(prop.get('description', ''))} |"
        )
    return rows


def spec_page() -> str:
    schema = spec.json_schema()
    lines = [
        "# Spec schema",
        "",
        "A scenario spec is a TOML file (or, from Python, a dict) with these fields. This page is",
        "generated from `harness.spec.json_schema()` when the site is built; `harness schema`",
        "prints the same JSON Schema for an editor that validates TOML or JSON. The workloads and",
        "backends listed are those registered where the site was built.",
        "",
        "```sh",
        "harness schema > spec.schema.json",
        "```",
        "",
        "## Fields",
        "",
        *_fields_table(schema),
    ]
    for name, sub in schema.get("$defs", {}).items():
        lines += ["", f"## {name}", "", _cell(sub.get("description", "")), "", *_fields_table(sub)]
    lines += ["", "## The JSON Schema", "", "```json", json.dumps(schema, indent=2), "```", ""]
    return "\n".join(lines)


def metrics_page() -> str:
    lines = [
        "# Metric catalogue",
        "",
        "Every metric a run records, in the catalogue's order, generated from",
        "`harness.protocol.METRICS` when the site is built. `per` says what one value is:",
        "`repeat` one per timed repeat, `round` one per case process, `node` one per cluster node",
        "per round, `case` derived once per case from the others. `better` is the direction",
        "`harness compare` calls an improvement; `none` is never a regression.",
        "",
        "| metric | unit | better | per | label | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for info in protocol.METRICS.values():
        lines.append(
            f"| `{info.name}` | {_cell(info.unit)} | {info.better} | {info.per} | "
            f"{_cell(info.label)} | {_cell(info.description)} |"
        )
    return "\n".join(lines) + "\n"


with mkdocs_gen_files.open("reference/spec.md", "w") as page:
    page.write(spec_page())
with mkdocs_gen_files.open("reference/metrics.md", "w") as page:
    page.write(metrics_page())
