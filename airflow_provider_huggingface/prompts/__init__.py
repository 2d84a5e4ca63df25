"""Handlebars prompt templates, in stages: :mod:`.lexer` (source to tokens), :mod:`.parser`
(tokens to the tree of :mod:`.syntax`, with :mod:`.whitespace`'s rules applied) and
:mod:`.renderer` (tree to text, with :mod:`.values` and the messages of :mod:`.missing`); beside
them, :mod:`.scope` (the names a template can use in a run) and :mod:`.messages` (the
conversation of the chat operators). The public entry points are
:func:`.renderer.render_prompt` and :func:`.renderer.referenced_roots`.

Nothing is imported here: a DAG file that imports one module pays for that module only.
"""

from __future__ import annotations
