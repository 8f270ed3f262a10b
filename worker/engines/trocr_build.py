"""Random-weight TrOCR models built offline, for tests and for benchmarks without a model hub.

The ``small`` and ``base`` shapes follow the published trocr-small and trocr-base checkpoints
(61.6M and about 334M parameters), so their speed and memory are those of the real models; the
weights are random, so the text they read is noise. ``tiny`` is for unit tests.

The tokenizer reads one printable ASCII character per token; for the real shapes the vocabulary
is padded with ``<unusedN>`` placeholders up to the real size, so every id the model can emit
decodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers, processors
from tokenizers.models import WordLevel
from transformers import (
    GenerationConfig,
    PreTrainedTokenizerFast,
    TrOCRConfig,
    TrOCRProcessor,
    VisionEncoderDecoderConfig,
    VisionEncoderDecoderModel,
    ViTConfig,
    ViTImageProcessor,
)

BOS, PAD, EOS, UNK = "<s>", "<pad>", "</s>", "<unk>"
SPECIAL_TOKENS = (BOS, PAD, EOS, UNK)
# Printable ASCII, space included; string.printable also holds tabs and line breaks.
CHARSET = "".join(chr(code) for code in range(0x20, 0x7F))
CHAR_VOCAB_SIZE = len(SPECIAL_TOKENS) + len(CHARSET)
IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)
DEFAULT_MAX_NEW_TOKENS = 64


@dataclass(frozen=True)
class TrOcrSize:
    """The architecture of one TrOCR size: a ViT encoder and a TrOCR decoder.

    Attributes:
        image_size: Side of the square encoder input, in pixels.
        patch_size: Side of one ViT patch, in pixels.
        encoder_hidden: Encoder hidden size.
        encoder_layers: Encoder transformer layers.
        encoder_heads: Encoder attention heads.
        encoder_intermediate: Encoder feed-forward size.
        decoder_d_model: Decoder hidden size.
        decoder_layers: Decoder transformer layers.
        decoder_heads: Decoder attention heads.
        decoder_ffn: Decoder feed-forward size.
        vocab_size: Output vocabulary; ``None`` means the character vocabulary alone.
        max_positions: Longest decoder sequence.
        tie_embeddings: Whether the output projection shares the token embedding.
        init_std: Standard deviation of the random weights; the tiny model uses a large one so
            that different images read as different text.
    """

    image_size: int
    patch_size: int
    encoder_hidden: int
    encoder_layers: int
    encoder_heads: int
    encoder_intermediate: int
    decoder_d_model: int
    decoder_layers: int
    decoder_heads: int
    decoder_ffn: int
    vocab_size: int | None
    max_positions: int
    tie_embeddings: bool
    init_std: float = 0.02

    @property
    def vocabulary(self) -> int:
        """The number of token ids the model can emit."""
        return CHAR_VOCAB_SIZE if self.vocab_size is None else self.vocab_size


SIZES: dict[str, TrOcrSize] = {
    "tiny": TrOcrSize(
        image_size=32,
        patch_size=16,
        encoder_hidden=32,
        encoder_layers=2,
        encoder_heads=2,
        encoder_intermediate=64,
        decoder_d_model=32,
        decoder_layers=2,
        decoder_heads=2,
        decoder_ffn=64,
        vocab_size=None,
        max_positions=128,
        tie_embeddings=True,
        init_std=1.0,
    ),
    "small": TrOcrSize(
        image_size=384,
        patch_size=16,
        encoder_hidden=384,
        encoder_layers=12,
        encoder_heads=6,
        encoder_intermediate=1536,
        decoder_d_model=256,
        decoder_layers=6,
        decoder_heads=8,
        decoder_ffn=1024,
        vocab_size=64044,
        max_positions=512,
        tie_embeddings=False,
    ),
    "base": TrOcrSize(
        image_size=384,
        patch_size=16,
        encoder_hidden=768,
        encoder_layers=12,
        encoder_heads=12,
        encoder_intermediate=3072,
        decoder_d_model=1024,
        decoder_layers=12,
        decoder_heads=16,
        decoder_ffn=4096,
        vocab_size=50265,
        max_positions=512,
        tie_embeddings=True,
    ),
}


def _size(size: str) -> TrOcrSize:
    try:
        return SIZES[size]
    except KeyError:
        raise ValueError(f"unknown TrOCR size {size!r}; choose from {sorted(SIZES)}") from None


def trocr_config(size: str) -> VisionEncoderDecoderConfig:
    """The model configuration of one size, without allocating any weights.

    Args:
        size: A key of :data:`SIZES`.

    Returns:
        A ViT + TrOCR encoder-decoder configuration with the special token ids of the
        character tokenizer.

    Raises:
        ValueError: If ``size`` is unknown.
    """
    shape = _size(size)
    bos, pad, eos = (SPECIAL_TOKENS.index(token) for token in (BOS, PAD, EOS))
    encoder = ViTConfig(
        image_size=shape.image_size,
        patch_size=shape.patch_size,
        hidden_size=shape.encoder_hidden,
        num_hidden_layers=shape.encoder_layers,
        num_attention_heads=shape.encoder_heads,
        intermediate_size=shape.encoder_intermediate,
        initializer_range=shape.init_std,
    )
    decoder = TrOCRConfig(
        vocab_size=shape.vocabulary,
        d_model=shape.decoder_d_model,
        decoder_layers=shape.decoder_layers,
        decoder_attention_heads=shape.decoder_heads,
        decoder_ffn_dim=shape.decoder_ffn,
        max_position_embeddings=shape.max_positions,
        init_std=shape.init_std,
        # Cross-attention reads the encoder states directly, as in the published checkpoints.
        cross_attention_hidden_size=shape.encoder_hidden,
        tie_word_embeddings=shape.tie_embeddings,
        decoder_start_token_id=bos,
        bos_token_id=bos,
        pad_token_id=pad,
        eos_token_id=eos,
    )
    config = cast(
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder),
    )
    config.decoder_start_token_id = bos
    config.pad_token_id = pad
    config.eos_token_id = eos
    config.vocab_size = shape.vocabulary
    return config


def build_char_tokenizer(vocab_size: int | None = None) -> PreTrainedTokenizerFast:
    """A character-level tokenizer: one token per printable ASCII character.

    Args:
        vocab_size: Pad the vocabulary with ``<unusedN>`` placeholders up to this size;
            ``None`` keeps the special tokens and characters alone.

    Returns:
        A fast tokenizer that wraps every encoding in ``<s> ... </s>``.

    Raises:
        ValueError: If ``vocab_size`` is smaller than the character vocabulary.
    """
    tokens = [*SPECIAL_TOKENS, *CHARSET]
    target = len(tokens) if vocab_size is None else vocab_size
    if target < len(tokens):
        raise ValueError(f"vocab_size {target} is below the {len(tokens)} characters and specials")
    tokens += [f"<unused{i}>" for i in range(target - len(tokens))]
    vocab = {token: i for i, token in enumerate(tokens)}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}",
        pair=f"{BOS} $A {EOS} $B {EOS}",
        special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        clean_up_tokenization_spaces=False,
    )


def build_trocr(size: str, out_dir: Path, seed: int = 0) -> Path:
    """Build a random-weight TrOCR model offline and save model and processor.

    Args:
        size: A key of :data:`SIZES`.
        out_dir: The folder to write; created if missing, files in it are overwritten.
        seed: Seed of the random weights; the same seed builds the same model.

    Returns:
        ``out_dir``, loadable with ``VisionEncoderDecoderModel.from_pretrained`` and
        ``TrOCRProcessor.from_pretrained``.

    Raises:
        ValueError: If ``size`` is unknown.
    """
    shape = _size(size)
    config = trocr_config(size)
    torch.manual_seed(seed)
    model = VisionEncoderDecoderModel(config=config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id,
        bos_token_id=config.decoder_start_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        max_new_tokens=DEFAULT_MAX_NEW_TOKENS,
        num_beams=1,
        do_sample=False,
    )
    image_processor = ViTImageProcessor(
        size={"height": shape.image_size, "width": shape.image_size},
        image_mean=list(IMAGE_MEAN),
        image_std=list(IMAGE_STD),
    )
    processor = TrOCRProcessor(image_processor, build_char_tokenizer(shape.vocab_size))
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
