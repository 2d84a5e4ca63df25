"""Write a tiny Llama-architecture GGUF model with random weights, for a real llama.cpp server in tests.

Nothing is downloaded: the model is made in well under a second from a fixed seed, so every run
serves the same weights. Its output is gibberish, but readable gibberish: whole English words
separated by spaces.

How the words come out whole: residual dimension 0 is held at 1 (embedding column 0 is 1 and no
layer writes to it: row 0 of every ``attn_output`` and ``ffn_down`` is zero), so after the final
RMS norm that dimension is always positive (1/rms, about 5 to 8) and column 0 of ``output.weight``
acts as a per-token logit bias. That bias is -1000 on every control, byte, character and
word-prefix token ("}" excepted, see ``CLOSE_BRACE_BIAS``) and 0 on whole words, so free sampling
only ever picks whole words.

The vocabulary is SentencePiece style (``tokenizer.ggml.model = "llama"``): llama.cpp's SPM
tokenizer merges adjacent pieces only when the merged text is itself a token, so every prefix of
every word (``▁h``, ``▁he``, ``▁hel`` ...) is in the vocabulary too, which lets a prompt made of
vocabulary words tokenize to one token per word; anything else falls back to single characters
and then to the 256 byte tokens.

Usage: ``python -m dev.tiny_gguf OUT.gguf [--pooling mean] [--tools]`` (with a pooling type it is an
embedding model: one vector of ``N_EMBD`` values per text, from a server started with ``--embedding``; with
``--tools`` its chat template shows it the tools and the tool turns).
"""

from __future__ import annotations

import argparse
import string
import sys
from pathlib import Path

import gguf
import numpy as np

SEED = 20240611
N_EMBD = 64
N_HEAD = 4
N_LAYER = 2
N_FF = 128
N_CTX_TRAIN = 2048
SPACE = "\u2581"  # SentencePiece's visible space: a word token "▁cat" decodes to " cat"

# The bias that keeps sampling off non-word tokens. Grammar-constrained sampling (JSON mode) still
# reaches these tokens, because the grammar masks every word and only the penalised ones are left.
NON_WORD_BIAS = -1000.0
# "}" is penalised slightly less than the other non-word tokens. Free text never sees the difference
# (words are 1000 ahead), but right after a grammar forces "{" the model then closes the object at
# once instead of opening a string it can never close (inside a JSON string every word is allowed
# and beats the closing quote). So JSON mode always returns "{}" (at times with the newline the
# grammar allows after it); with -1000 here too, some seeds give an unterminated '{" went house ...'.
CLOSE_BRACE_BIAS = -900.0

# ChatML, byte for byte the template llama-cpp-python recognises as its built-in "chatml" format,
# so the server stops on <|im_end|> exactly as with a real ChatML model.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)
# ChatML that also shows the model the tools and the conversation's tool calls and results, Hermes style:
# tools as JSON lines in a system turn, an assistant's calls as <tool_call> JSON, a tool's result in a
# "tool" turn. llama-cpp-python passes `tools` only to a template it reads from the model (one that is not
# byte for byte a built-in format), and without it drops the tool turns from the prompt. Without tools
# the prompt is the same as with CHAT_TEMPLATE.
TOOL_CHAT_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n"
    "You may call one of these tools; answer with its arguments as one JSON object.\n"
    "{% for tool in tools %}{{ tool.function | tojson }}\n{% endfor %}"
    "<|im_end|>\n{% endif %}"
    "{% for message in messages %}"
    "<|im_start|>{{ message.role }}\n"
    "{% if message.content %}{{ message.content }}{% endif %}"
    "{% if message.tool_calls %}{% for call in message.tool_calls %}"
    "{% set arguments = call.function.arguments %}"
    '\n<tool_call>{"name": {{ call.function.name | tojson }}, "arguments": '
    "{% if arguments is string %}{{ arguments }}{% else %}{{ arguments | tojson }}{% endif %}}</tool_call>"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CONTROL_TOKENS = ("<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>")
UNK_ID, BOS_ID, IM_END_ID = 0, 1, 4

# Common lower-case English words (with the ChatML role names, so a prompt tokenizes one token a
# word): the only tokens the model ever generates.
_WORD_TEXT = """
assistant system user
a about above across after again air all almost along also always an and animal another answer
any are area around as ask at away back be because been before began begin being below best
better between big bird black blue boat body book both box boy bring brother build but by call
came can car care carry cat change children city class close cold color come common could
country course cut dark day deep did different do does dog done door down draw dream drink
during each early earth east eat end enough even evening every eye face fact fall family far
farm fast father feel feet few field find fire first fish five fly follow food for forest form
found four free friend from front full game garden gave get girl give glass go gold good got
great green ground group grow had hand happy hard has have he head hear heart heavy help her
here high hill him his hold home horse hot hour house how idea if in into is island it its
just keep kind king knew know lake land large last late laugh learn leave left less letter
light like line list listen little live long look love low made make man many map may me mean
men might mile mind moon more morning most mother mountain move much music must my name near
need never new next night no north nothing now number of off often old on once one only open
or order other our out over own page paper part pass people picture place plant play point
quick quiet rain read ready red rest right river road rock room round run said same saw say
school sea second see seem sentence set she ship short should show side simple sing sister sit
sky sleep slow small snow so some song soon sound south space speak spring stand star start
stay still stone stop story street strong study sun sure table take talk tall tell ten than
that the their them then there these they thing think this those thought three through time
to today together told too took top toward town tree true try turn two under until up upon us
use very voice walk want warm was watch water way we well went were west what when where which
while white who why wide wild will wind window winter with without wood word work world would
write year yes yet you young your
"""
WORDS: tuple[str, ...] = tuple(dict.fromkeys(_WORD_TEXT.split()))
# Single characters: a prompt word outside the vocabulary tokenizes to these before bytes.
CHARACTERS = string.ascii_letters + string.digits + string.punctuation


def _vocabulary() -> tuple[list[str], list[float], list[int], list[float]]:
    """Tokens, SPM merge scores, token types and the logit bias of each token."""
    tokens: list[str] = []
    scores: list[float] = []
    types: list[int] = []
    bias: list[float] = []

    def add(piece: str, score: float, kind: gguf.TokenType, logit_bias: float) -> None:
        tokens.append(piece)
        scores.append(score)
        types.append(int(kind))
        bias.append(logit_bias)

    for piece in CONTROL_TOKENS:
        add(piece, 0.0, gguf.TokenType.UNKNOWN if piece == "<unk>" else gguf.TokenType.CONTROL, NON_WORD_BIAS)
    # The byte tokens are what llama.cpp's SPM tokenizer falls back to (and where it finds "\n").
    for byte in range(256):
        add(f"<0x{byte:02X}>", 0.0, gguf.TokenType.BYTE, NON_WORD_BIAS)
    words = {SPACE + word for word in WORDS}
    prefixes = [SPACE + word[:n] for word in WORDS for n in range(1, len(word))]
    # A prefix that is itself a word ("▁the" in "▁there") is added below, as a word.
    for piece in dict.fromkeys([SPACE, *CHARACTERS, *prefixes]):
        if piece in words:
            continue
        logit_bias = CLOSE_BRACE_BIAS if piece == "}" else NON_WORD_BIAS
        # SPM merges the highest-scoring pair first: longer pieces score higher.
        add(piece, float(len(piece)), gguf.TokenType.NORMAL, logit_bias)
    for word in WORDS:
        add(SPACE + word, float(len(word) + 1), gguf.TokenType.NORMAL, 0.0)
    return tokens, scores, types, bias


def _weights(n_vocab: int, bias: list[float]) -> dict[str, np.ndarray]:
    """Random weights (numpy shape = (out, in); gguf reverses it into ggml's order)."""
    rng = np.random.default_rng(SEED)

    def normal(*shape: int, std: float) -> np.ndarray:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    embd = normal(n_vocab, N_EMBD, std=0.1)
    embd[:, 0] = 1.0
    output = normal(n_vocab, N_EMBD, std=0.5)
    # Normalised dimension 0 is 1/rms(x), about 5-8 here: the bias still dwarfs any word logit.
    output[:, 0] = np.asarray(bias, dtype=np.float32)
    tensors = {
        "token_embd.weight": embd,
        "output_norm.weight": np.ones(N_EMBD, dtype=np.float32),
        "output.weight": output,
    }
    for layer in range(N_LAYER):
        attn_output = normal(N_EMBD, N_EMBD, std=0.1)
        ffn_down = normal(N_EMBD, N_FF, std=0.1)
        # No layer may write to residual dimension 0, or the per-token bias would drift.
        attn_output[0, :] = 0.0
        ffn_down[0, :] = 0.0
        tensors.update(
            {
                f"blk.{layer}.attn_norm.weight": np.ones(N_EMBD, dtype=np.float32),
                f"blk.{layer}.attn_q.weight": normal(N_EMBD, N_EMBD, std=0.3),
                f"blk.{layer}.attn_k.weight": normal(N_EMBD, N_EMBD, std=0.3),
                f"blk.{layer}.attn_v.weight": normal(N_EMBD, N_EMBD, std=0.3),
                f"blk.{layer}.attn_output.weight": attn_output,
                f"blk.{layer}.ffn_norm.weight": np.ones(N_EMBD, dtype=np.float32),
                f"blk.{layer}.ffn_gate.weight": normal(N_FF, N_EMBD, std=0.3),
                f"blk.{layer}.ffn_up.weight": normal(N_FF, N_EMBD, std=0.3),
                f"blk.{layer}.ffn_down.weight": ffn_down,
            }
        )
    return tensors


def write_tiny_gguf(
    path: str | Path, *, pooling: gguf.PoolingType | None = None, tools: bool = False
) -> Path:
    """Write the tiny model to ``path`` (parent folders are created) and return the path.

    ``tools`` gives it :data:`TOOL_CHAT_TEMPLATE`, so that a server shows it the tools and the tool turns
    (llama-cpp-python's server then serves a ``tool_choice`` naming a function with a JSON-schema grammar
    of its parameters, as it does with the plain template).

    ``pooling`` makes it an embedding model: a server started with ``embedding=True`` then answers one
    vector of ``N_EMBD`` values per text, pooled over its tokens. Without it llama.cpp pools nothing for
    this architecture and llama-cpp-python 0.3.36 answers one vector per token, and for every text after
    the first in a call reads them from the wrong place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens, scores, types, bias = _vocabulary()

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("tiny-random-llama")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(N_CTX_TRAIN)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    if pooling is not None:
        writer.add_pooling_type(pooling)

    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(UNK_ID)
    writer.add_bos_token_id(BOS_ID)
    # <|im_end|> ends a ChatML turn, as in real ChatML models.
    writer.add_eos_token_id(IM_END_ID)
    # ChatML prompts carry no BOS.
    writer.add_add_bos_token(False)
    writer.add_add_eos_token(False)
    writer.add_chat_template(TOOL_CHAT_TEMPLATE if tools else CHAT_TEMPLATE)

    for name, array in _weights(len(tokens), bias).items():
        writer.add_tensor(name, array)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a tiny random Llama GGUF model (no download).")
    parser.add_argument("out", type=Path, help="where to write the .gguf file")
    parser.add_argument(
        "--pooling",
        choices=["mean", "cls", "last"],
        help="make it an embedding model that pools its tokens this way (serve it with --embedding)",
    )
    parser.add_argument(
        "--tools", action="store_true", help="a chat template that shows the model the tools and tool turns"
    )
    args = parser.parse_args(argv)
    pooling = gguf.PoolingType[args.pooling.upper()] if args.pooling else None
    path = write_tiny_gguf(args.out, pooling=pooling, tools=args.tools)
    print(f"{path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
