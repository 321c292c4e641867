"""Every configuration key, written from the schema (``nnexp/config.py``) and the group files in
``conf/`` each time the documentation is built, so that the reference cannot fall behind the code.

The Sphinx build writes ``docs/_generated/config_keys.md`` (excluded from the page list, included by
``docs/configuration.md``). ``python docs/_ext/config_reference.py`` prints the same Markdown.

For each schema dataclass: one row per field with its type, the schema's default, the allowed names
(an Enum field) or range (``nnexp.config.RANGES``), and the comment written beside the field in
``nnexp/config.py``. For each config group (``data``, ``model``, ``optimizer``, ``schedule``): the values
each option's file sets, read from the config Hydra composes with that option.
"""

import dataclasses
import enum
import inspect
import io
import tokenize
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parents[1] / "_generated" / "config_keys.md"


def field_comments(cls):
    """{field name: the comment on its line} of a dataclass, read from its source."""
    source = inspect.getsource(cls)
    comments, line_names = {}, {}
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if ":" in stripped and not stripped.startswith(("#", '"', "@", "class ")):
            name = stripped.split(":", 1)[0].strip()
            if name.isidentifier():
                line_names[number] = name
    last, last_line = None, 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        text = token.string.lstrip("#").strip()
        if token.start[0] in line_names:
            last, last_line = line_names[token.start[0]], token.start[0]
            comments[last] = text
        elif last is not None and token.start[0] == last_line + 1 and token.line.strip().startswith("#"):
            comments[last] += " " + text          # a comment continued on the next line
            last_line += 1
    return comments


def yaml_comments(path):
    """{key: the comment on its line} of a YAML file's top-level keys (conf/config.yaml)."""
    comments = {}
    for line in path.read_text().splitlines():
        if line[:1].isalpha() and ":" in line and "#" in line:
            comments[line.split(":", 1)[0]] = line.split("#", 1)[1].strip()
    return comments


def type_name(annotation):
    """The type as a reader types it: ``float``, ``int or null``, ``list of int``, a closed set's name."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return f"{type_name(inner[0])} or null"
    if origin in (list, typing.List):
        return f"list of {type_name(args[0])}" if args else "list"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "name"
    if annotation is typing.Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def allowed(annotation, key):
    """The names an Enum field takes, or the range ``validate`` checks, as Markdown."""
    from nnexp.config import RANGES

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union:
        annotation = next(a for a in args if a is not type(None))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return ", ".join(f"`{member.value}`" for member in annotation)
    if key in RANGES:
        return RANGES[key][1]
    return ""


def default_text(field):
    from omegaconf import MISSING

    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return ""
    if value == MISSING:
        return "(from the group)"
    if dataclasses.is_dataclass(value):
        return "(section)"
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`[" + ",".join(str(v) for v in value) + "]`"
    return f"`{value}`"


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(cls, prefix, more_comments=None):
    """A Markdown table of the fields of dataclass ``cls``, keys written ``prefix`` + name; a field without
    a comment in the schema takes the one in ``more_comments``."""
    comments = {**(more_comments or {}), **field_comments(cls)}
    hints = typing.get_type_hints(cls)
    rows = ["| key | type | schema default | allowed | note |", "| --- | --- | --- | --- | --- |"]
    for field in dataclasses.fields(cls):
        key = prefix + field.name
        rows.append("| " + " | ".join(cell(c) for c in (
            f"`{key}`", type_name(hints[field.name]), default_text(field), allowed(hints[field.name], key),
            comments.get(field.name, ""))) + " |")
    return "\n".join(rows)


def doc(cls):
    """The class's own docstring (not the signature dataclasses write when there is none), in Markdown."""
    text = cls.__dict__.get("__doc__") or ""
    if text.startswith(cls.__name__ + "("):
        return ""
    return inspect.cleandoc(text).replace("\n", " ").replace("``", "`")


def compose(overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from nnexp.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=False)


def shown(value):
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return f"{len(value)} layers"
        return "`[" + ",".join(str(v) for v in value) + "]`"
    return f"`{value}`"


def group_table(group):
    """What each option of a config group (``conf/<group>/*.yaml``) sets, from the composed config."""
    options = sorted(path.stem for path in (ROOT / "conf" / group).glob("*.yaml"))
    sections = {option: compose([f"{group}={option}"])[group] for option in options}
    keys = []
    for section in sections.values():
        keys += [k for k in section if k not in keys and k != "name"]
    # only the keys some option sets to another value than another option does
    keys = [k for k in keys if len({repr(s.get(k, "<absent>")) for s in sections.values()}) > 1]
    rows = ["| option | " + " | ".join(f"`{group}.{k}`" for k in keys) + " |",
            "| --- |" + " --- |" * len(keys)]
    for option, section in sections.items():
        rows.append(f"| `{group}={option}` | " + " | ".join(
            cell(shown(section[k])) if k in section else "" for k in keys) + " |")
    return "\n".join(rows)


def markdown():
    """The whole generated reference, as Markdown."""
    from nnexp import config

    parts = ["<!-- written by docs/_ext/config_reference.py from nnexp/config.py and conf/: do not edit -->", ""]

    def section(title, text, cls, prefix, more_comments=None):
        parts.extend([f"### {title}", "", text, "", table(cls, prefix, more_comments), ""])

    section("Top-level keys", "`Config`: the keys of `conf/config.yaml`, typed on the command line as they are "
            "(`lr=0.3`). `data`, `model`, `optimizer` and `schedule` are config groups, below.",
            config.Config, "", yaml_comments(ROOT / "conf" / "config.yaml"))
    section("data", "`DataConfig`, filled by `conf/data/<name>.yaml`.", config.DataConfig, "data.")
    parts.extend(["Each option of the group sets:", "", group_table("data"), ""])
    section("model=mlp", doc(config.MLPConfig) or "`MLPConfig`: a fully connected network.", config.MLPConfig,
            "model.")
    section("model=cnn", doc(config.CNNConfig), config.CNNConfig, "model.")
    section("model.layers", doc(config.LayerConfig), config.LayerConfig, "model.layers[i].")
    parts.extend(["Each option of the `model` group sets:", "", group_table("model"), ""])
    section("optimizer=sgd", doc(config.SGDConfig), config.SGDConfig, "optimizer.")
    section("optimizer=adam, optimizer=adamw", doc(config.AdamConfig), config.AdamConfig, "optimizer.")
    section("optimizer=rmsprop", doc(config.RMSpropConfig), config.RMSpropConfig, "optimizer.")
    parts.extend(["Each option of the group sets (`${momentum}` and `${weight_decay}` read the top-level keys):",
                  "", group_table("optimizer"), ""])
    section("schedule", doc(config.ScheduleConfig), config.ScheduleConfig, "schedule.")
    parts.extend(["Each option of the group sets:", "", group_table("schedule"), ""])
    section("lr_find", doc(config.FinderConfig) or "The learning-rate finder's settings.", config.FinderConfig,
            "lr_find.")
    return "\n".join(parts)


def write(app=None):
    OUT.parent.mkdir(exist_ok=True)
    text = markdown()
    if not OUT.exists() or OUT.read_text() != text:   # an unchanged file keeps Sphinx's cache valid
        OUT.write_text(text)


def setup(app):
    app.connect("builder-inited", write)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(ROOT))
    print(markdown())
