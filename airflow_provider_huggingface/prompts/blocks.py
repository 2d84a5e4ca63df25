"""Templates with blocks, rendered by pybars3, imported and compiled on first need.

pybars gets a skeleton that holds nothing but calls of our helpers: our parser applies
Handlebars' whitespace rules and our helpers supply the text, values and block semantics, while
pybars supplies block structure and scopes. Compiled templates are cached; compiling is
serialized by a lock because pybars' compiler shares one code builder.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_huggingface.prompts.evaluate import evaluate, render_run
from airflow_provider_huggingface.prompts.parser import CACHE_SIZE
from airflow_provider_huggingface.prompts.syntax import Block, Literal, TemplateProblem, Text, Value
from airflow_provider_huggingface.prompts.values import is_empty, js_falsy

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_huggingface.prompts.syntax import Program

_compiled: dict[str, Callable[[Mapping[str, Any]], str]] = {}
_compile_lock = threading.Lock()


def render_blocks(template: str, program: Program, scope: Mapping[str, Any]) -> str:
    render = _compiled.get(template)
    if render is None:
        with _compile_lock:  # pybars' compiler shares one code builder: never two compiles at once
            render = _compiled.get(template)
            if render is None:
                render = _compile(program)
                if len(_compiled) >= CACHE_SIZE:
                    _compiled.pop(next(iter(_compiled)))
                _compiled[template] = render
    return render(scope)


def _compile(program: Program) -> Callable[[Mapping[str, Any]], str]:
    import pybars  # about 0.36 s: paid only by templates with blocks

    nodes: list[Any] = []
    source = _skeleton(program, nodes)
    try:
        function = pybars.Compiler().compile(source)
    except pybars.PybarsError as error:  # our skeleton is plain pybars syntax: a bug of ours
        raise TemplateProblem(f"pybars could not compile the template: {error}") from None
    # pybars registers each template as a module; the function keeps its globals, so the
    # registration is dropped rather than left to grow with every compile.
    sys.modules.pop(function.__module__, None)
    helpers = _pybars_helpers(nodes, pybars)
    scope_class = pybars.Scope
    return lambda scope: function(scope_class(scope, None, scope), helpers=helpers)


def _skeleton(program: Program | None, nodes: list[Any]) -> str:
    """The pybars source of a program: only helper calls, each given the number of its node.
    No text reaches pybars, so its own whitespace rules have nothing to act on: the text is
    already as Handlebars' rules leave it."""
    if program is None:
        return ""
    parts = []
    run: list[Text | Value] = []  # text and values between blocks: one helper call renders them
    for node in [*program.body, None]:
        if isinstance(node, (Text, Value)):
            run.append(node)
            continue
        if run:
            nodes.append(run)
            parts.append(f"{{{{hf-run {len(nodes) - 1}}}}}")
            run = []
        if isinstance(node, Block):
            nodes.append(node)
            number = len(nodes) - 1
            inner = _skeleton(node.program, nodes), _skeleton(node.inverse, nodes)
            parts.append(f"{{{{#hf-block {number}}}}}{inner[0]}{{{{else}}}}{inner[1]}{{{{/hf-block}}}}")
    return "".join(parts)


def _pybars_helpers(nodes: list[Any], pybars: Any) -> dict[str, Callable[..., Any]]:
    scope_class, strlist = pybars.Scope, pybars.strlist

    def block(this: Any, options: dict[str, Any], number: int) -> Any:
        node: Block = nodes[number]
        fn, inverse = options["fn"], options["inverse"]
        value = evaluate(node.params[0], this, node, strict=False)
        helper = node.helper
        if helper in ("if", "unless"):
            include_zero = not js_falsy(
                evaluate(node.hash.get("includeZero", Literal("", None)), this, node, strict=False)
            )
            false = (not include_zero and js_falsy(value)) or is_empty(value)
            return (inverse if false == (helper == "if") else fn)(this)
        if helper == "with":
            if is_empty(value):
                return inverse(this)
            return fn(scope_class(value, this, this.root, overrides=_params(node, value)))
        if helper == "each" or (not helper and isinstance(value, (list, tuple))):
            return each(this, fn, inverse, node, value)
        # a Mustache section: Handlebars' blockHelperMissing
        if value is True:
            return fn(this)
        if value is False or value is None:
            return inverse(this)
        return fn(scope_class(value, this, this.root, overrides=_params(node, value)))

    def each(this: Any, fn: Any, inverse: Any, node: Block, value: Any) -> Any:
        items = _items(value)
        if not items:
            return inverse(this)
        result, last = strlist(), len(items) - 1
        for index, (key, item) in enumerate(items):
            frame = scope_class(
                item,
                this,
                this.root,
                overrides=_params(node, item, key),
                index=index,
                key=key,
                first=index == 0,
                last=index == last,
            )
            result.grow(fn(frame))
        return result

    return {
        "hf-run": lambda this, number: strlist([render_run(nodes[number], this)]),
        "hf-block": block,
    }


def _params(node: Block, *values: Any) -> dict[str, Any] | None:
    return dict(zip(node.block_params, values, strict=False)) if node.block_params else None


def _items(value: Any) -> list[tuple[Any, Any]]:
    if isinstance(value, Mapping):
        return [(key, value[key]) for key in list(value)]
    if isinstance(value, (list, tuple)):
        return list(enumerate(value))
    return []  # strings, numbers, None: nothing to iterate, as in Handlebars.js
