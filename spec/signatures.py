"""The signature table of spec/signatures.md, generated from ``exo.interface.OPERATIONS``
and the clause texts, so that a kernel in any language finds every operation's
positional arguments, their ranges, its result and its null value in one place.

Nothing in the table is written by hand: the arguments and their kinds come from
``OPERATIONS``; an argument's range is the sentence of every requirement of the
operation's declarative text (spec/declarative/) that fails with ``INVALID_ARGUMENT`` and
names the argument; the value on success is the first sentence of the clause's
**Returns.** paragraph; the null value follows GEN-1 (``null_value``). The configurations
section lists ``Config``'s fields with their defaults and the sizes a caller passes in
(the kit's, from the layer above). ``tests/test_signatures.py`` fails when
spec/signatures.md is not what this module writes, and when a clause does not link its
operations' rows (``clause_line``); ``python scripts/signatures.py`` rewrites both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import fields

from exo.interface import NULL_CAP, OPERATIONS, OUTCOME_OPS, Config, OpSig, Status
from exo.spec.clauses import paragraph, sections
from exo.spec.declarative import TEXTS

__all__ = ["FILE", "KINDS", "arg_ranges", "call_text", "clause_line", "markdown",
           "value_kind"]

FILE = "signatures.md"
"""The table's file in spec/."""

KINDS = {
    "syscall": "system call: a library OS asks it of the kernel",
    "event": "hardware event: the machine delivers it, for the running environment",
    "kernel": "the kernel's own operation (creation, destruction, revocation): no library "
              "OS calls it",
}
"""What an operation's kind (``OpSig.kind``) means."""

_ARG_KIND = {
    "int": "int",
    "bool": "bool",
    "cap": "Cap",
    "program": "program",
    "packet": "packet",
}

_DEFAULT_RANGE = {
    "int": "any integer",
    "bool": "`true` or `false`",
    "cap": "any three integers",
    "program": "a tuple of instructions `(code, jt, jf, k)`: u16, u8, u8, u32 (GEN-1); "
               "what may be installed: FLT-2, FLT-3",
    "packet": "bytes, at most 65535 (GEN-1)",
}
"""An argument's range when no requirement of its operation names it: the kind's own
values (GEN-1 refuses anything of another type)."""


def value_kind(op: str) -> str:
    """The kind of an operation's value on success: ``Cap``, ``Outcome``, ``packet``
    (``packet_take``: the packet taken), ``slot or witness`` (``filter_install``: the
    slot, or on ``OVERLAP`` the witness packet as a hex string) or ``int``."""
    sig = OPERATIONS[op]
    if sig.result == "cap":
        return "Cap"
    if op in OUTCOME_OPS:
        return "Outcome"
    if op == "packet_take":
        return "packet"
    if op == "filter_install":
        return "slot or witness"
    return "int"


def _null(sig: OpSig) -> str:
    if sig.result == "cap":
        return (f"`NULL_CAP` = `Cap({NULL_CAP.page}, {NULL_CAP.gen}, {NULL_CAP.rights})`, "
                f"wire `{{\"cap\": [{NULL_CAP.page}, {NULL_CAP.gen}, {NULL_CAP.rights}]}}`")
    if sig.name in OUTCOME_OPS:
        return "`0` = `Outcome.NONE`, wire `\"NONE\"`"
    if sig.name == "filter_install":
        return "`0`; on `OVERLAP` the witness packet instead (NET-1)"
    return "`0`"


def _mentions(sentence: str, arg: str) -> bool:
    return re.search(rf"`{re.escape(arg)}(`|\.)", sentence) is not None


def arg_ranges(op: str) -> list[tuple[str, str, str]]:
    """(argument, kind, range) of each argument of ``op``, in call order. The range is
    every ``INVALID_ARGUMENT`` requirement of the declarative text that names the
    argument (``` `arg` ``` or ``` `arg.field` ```), in the text's order; else the
    kind's default."""
    sig = OPERATIONS[op]
    text = TEXTS[op]
    out: list[tuple[str, str, str]] = []
    for name, kind in sig.args:
        said = [r.cite.sentence for r in text.requires
                if r.status == Status.INVALID_ARGUMENT and _mentions(r.cite.sentence, name)]
        out.append((name, _ARG_KIND[kind], "; ".join(said) if said else _DEFAULT_RANGE[kind]))
    return out


def call_text(op: str) -> str:
    """``op(arg, ...) -> value kind``."""
    args = ", ".join(name for name, _ in OPERATIONS[op].args)
    return f"{op}({args}) -> {value_kind(op)}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _first_sentence(text: str) -> str:
    flat = _one_line(text)
    m = re.search(r"\.(\s+(?=[A-Z`])|$)", flat)
    return flat[:m.start() + 1] if m else flat


def _returns(clause: str) -> str:
    body = paragraph(sections().get(clause, ""), "Returns").replace("**Returns.**", "", 1)
    return _first_sentence(re.sub(r"\s*\n\s*-\s+", " ", body))  # list items run on


def clause_line(op: str) -> str:
    """The line a clause holds for each of its operations, linking the table's row."""
    return f"**Signature.** [`{call_text(op)}`]({FILE}#op-{op})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(configs: Sequence[tuple[str, Config]] = (), configs_note: str = "") -> str:
    """spec/signatures.md: the operations, their arguments, results and null values, and
    the configurations (``Config``'s defaults, then each of ``configs``: (name, sizes),
    which ``configs_note`` explains)."""
    lines = [
        "# Operation signatures",
        "",
        "<!-- Generated by exo.spec.signatures (python scripts/signatures.py); "
        "tests/test_signatures.py checks it. Do not edit by hand. -->",
        "",
        "Every operation of `exo.interface.OPERATIONS`, as a kernel in any language",
        "receives it: `apply(name, *args)` in process, `{\"type\": \"apply\", \"op\": NAME,",
        "\"args\": [...]}` over the wire (WIRE-3, values encoded as WIRE-6 says). Arguments",
        "are positional, in the order below, which is not always the order of the clause's",
        "**Requires** list (`grant` takes `env, cap, grantee, rights`). A call with the",
        "wrong number of arguments, or an argument not exactly of its kind, is",
        "`INVALID_ARGUMENT` before anything else (GEN-1); a value of the right kind outside",
        "its range is `INVALID_ARGUMENT` as the operation's clause orders it (GEN-3).",
        "Every failing call returns its null value and changes nothing.",
        "",
        "Kinds: " + "; ".join(f"*{k}*: {v}" for k, v in KINDS.items()) + ".",
        "",
        "## Operations",
        "",
        "| operation | clause | kind | call | on success | null value on failure |",
        "|---|---|---|---|---|---|",
    ]
    for op, sig in OPERATIONS.items():
        lines.append(
            f"| <a id=\"op-{op}\"></a>`{op}` | {sig.clause} | {sig.kind} | "
            f"`{_cell(call_text(op))}` | {_cell(_returns(sig.clause))} | "
            f"{_cell(_null(sig))} |")
    lines += [
        "",
        "## Arguments",
        "",
        "| operation | # | argument | kind | range (`INVALID_ARGUMENT` outside it) |",
        "|---|---|---|---|---|",
    ]
    for op in OPERATIONS:
        for k, (name, kind, rng) in enumerate(arg_ranges(op)):
            lines.append(f"| `{op}` | {k} | `{name}` | {kind} | {_cell(_one_line(rng))} |")
    lines += [
        "",
        "Argument kinds (GEN-1): *int* is exactly an integer (not a boolean; a member of an",
        "`exo.interface` enumeration stands for its integer); *bool* exactly a boolean;",
        "*Cap* exactly a capability `(page, gen, rights)` of three integers; *program* a",
        "cBPF program; *packet* bytes. Over the wire each is encoded as WIRE-6 says",
        "(spec/protocol.md).",
        "",
        "Value kinds on success: *int* an integer; *Cap* a capability; *Outcome* an",
        "`exo.interface.Outcome` (over the wire its name); *packet* bytes; *slot or",
        "witness* the filter's slot, or with `OVERLAP` the witness packet as lower-case hex.",
        "",
        "## Configurations",
        "",
        "A kernel is reset with a configuration (GEN-4, WIRE-2): every field below, as an",
        "integer." + (f" {configs_note}" if configs_note else ""),
        "",
    ]
    names = [f.name for f in fields(Config)]
    head = ["field", "default", *(name for name, _ in configs)]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    default = Config()
    for n in names:
        row = [f"`{n}`", str(getattr(default, n)), *(str(getattr(c, n)) for _, c in configs)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
