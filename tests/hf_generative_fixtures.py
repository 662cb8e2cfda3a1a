"""Tiny random generative VLMs of the nine AutoModelForImageTextToText families, built offline.

Each builder makes a byte-level BPE tokenizer trained on the words the tests use (no files, no
hub), the family's processor around it, and a config sized after the processor has added its
tokens (PaliGemma adds 1,153; the vocabulary must cover them). Hidden 32, 2 layers, 32 px images.
`build_tiny` seeds torch, so two builds of one family write identical weights. Recipes follow
/work/shared/reference/anchors.md §3.3 (verified on transformers 5.23).
"""

from __future__ import annotations

from pathlib import Path

import torch

FAMILIES = ("llava", "llava_next", "paligemma", "idefics3", "smolvlm", "qwen2_vl", "qwen2_5_vl",
            "blip2", "instructblip")

_CORPUS = [
    'Does this figure show "a red circle left of a blue square"? Please answer yes or no.',
    'Does this figure show "a blue square left of a red circle"? Please answer Yes or No.',
    "Describe the image in one sentence.", "What colour is the shape?", "Is there a dog?",
    "Yes", "No", "yes", "no", " Yes", " No", "Yes.", "No.", "a photo of a cat on a mat",
    "USER: ASSISTANT: User: Assistant: Question: Answer: system user assistant",
    "You are a helpful assistant.", "green triangle above yellow star, two three four",
]

_LLAVA_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() + ': ' }}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}{{ '<image>\n' }}{% endif %}{% endfor %}"
    "{% for c in message['content'] %}{% if c['type'] == 'text' %}{{ c['text'] + ' ' }}{% endif %}"
    "{% endfor %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

_QK_GAIN = 8.0  # so a one-position shift moves log-probs far beyond the 1e-4 tolerance

_QWEN_SPECIALS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<|im_start|>",
                  "<|im_end|>"]
_IDEFICS_SPECIALS = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>",
                     "<|im_start|>", *[f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]]


def _tokenizer(bos: str = "<s>", eos: str = "</s>", pad: str = "<pad>", unk: str = "<unk>",
               extra: list[str] | tuple[str, ...] = (), vocab: int = 400):
    """A byte-level BPE fast tokenizer trained on the test corpus, plus `extra` special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=[pad, bos, eos, unk],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(_CORPUS, trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=bos, eos_token=eos, pad_token=pad,
                                  unk_token=unk)
    if extra:
        tok.add_special_tokens({"additional_special_tokens": list(extra)})
    return tok


def _llama(tok, **kw):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       pad_token_id=tok.pad_token_id, tie_word_embeddings=False, **kw)


def _clip_vision():
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                            num_hidden_layers=2, num_attention_heads=4, projection_dim=32)


def _llava(next_: bool):
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
        LlavaProcessor,
    )

    tok = _tokenizer(extra=["<image>"])
    common = dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    kw = dict(tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
              num_additional_image_tokens=1, chat_template=_LLAVA_TEMPLATE)
    cfg = dict(vision_config=_clip_vision(), text_config=_llama(tok),
               image_token_id=tok.convert_tokens_to_ids("<image>"), vision_feature_layer=-2,
               vision_feature_select_strategy="default")
    if not next_:
        proc = LlavaProcessor(image_processor=CLIPImageProcessor(**common), **kw)
        return LlavaForConditionalGeneration(LlavaConfig(**cfg)), proc
    grid = [[32, 32], [32, 64], [64, 32]]
    image_processor = LlavaNextImageProcessor(image_grid_pinpoints=grid, **common)
    proc = LlavaNextProcessor(image_processor=image_processor, **kw)
    return LlavaNextForConditionalGeneration(LlavaNextConfig(image_grid_pinpoints=grid, **cfg)), proc


def _paligemma():
    from transformers import (
        GemmaConfig,
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessor,
        SiglipVisionConfig,
    )

    tok = _tokenizer(bos="<bos>", eos="<eos>")
    image_processor = SiglipImageProcessor(size={"height": 32, "width": 32})
    image_processor.image_seq_length = 16
    proc = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tok)  # adds <image>, <loc>, <seg>
    text = GemmaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=1, head_dim=8,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       pad_token_id=tok.pad_token_id)
    vision = SiglipVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                                num_hidden_layers=2, num_attention_heads=4)
    config = PaliGemmaConfig(vision_config=vision, text_config=text, projection_dim=32,
                             image_token_id=tok.convert_tokens_to_ids("<image>"))
    return PaliGemmaForConditionalGeneration(config), proc


def _idefics(smol: bool):
    import transformers as tf

    tok = _tokenizer(extra=_IDEFICS_SPECIALS)
    prefix = "SmolVLM" if smol else "Idefics3"
    image_processor = getattr(tf, f"{prefix}ImageProcessor")(
        size={"longest_edge": 64}, max_image_size={"longest_edge": 32}, do_image_splitting=False)
    extra = {"video_processor": tf.SmolVLMVideoProcessor()} if smol else {}
    proc = getattr(tf, f"{prefix}Processor")(image_processor=image_processor, tokenizer=tok, image_seq_len=4,
                                             **extra)
    vision = getattr(tf, f"{prefix}VisionConfig")(image_size=32, patch_size=8, hidden_size=32,
                                                  intermediate_size=64, num_hidden_layers=2,
                                                  num_attention_heads=4)
    config = getattr(tf, f"{prefix}Config")(vision_config=vision.to_dict(), text_config=_llama(tok).to_dict(),
                                           image_token_id=tok.convert_tokens_to_ids("<image>"),
                                           scale_factor=2)
    return getattr(tf, f"{prefix}ForConditionalGeneration")(config), proc


def _qwen(v25: bool):
    import transformers as tf

    tok = _tokenizer(bos="<|endoftext|>", eos="<|im_end|>", pad="<|endoftext|>",
                     extra=[s for s in _QWEN_SPECIALS if s != "<|im_end|>"])
    tok.image_token, tok.video_token = "<|image_pad|>", "<|video_pad|>"
    image_processor = tf.Qwen2VLImageProcessor(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16, patch_size=14,
                                               merge_size=2)
    proc_cls = tf.Qwen2_5_VLProcessor if v25 else tf.Qwen2VLProcessor
    proc = proc_cls(image_processor=image_processor, tokenizer=tok,
                    video_processor=tf.Qwen2VLVideoProcessor())
    ids = {name: tok.convert_tokens_to_ids(t) for name, t in [
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>")]}
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]},
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    vision_common = dict(depth=2, hidden_size=32, num_heads=4, patch_size=14, spatial_merge_size=2,
                         temporal_patch_size=2, in_chans=3)
    if v25:
        vision = dict(vision_common, intermediate_size=64, out_hidden_size=32, fullatt_block_indexes=[1],
                      window_size=56)
        config = tf.Qwen2_5_VLConfig(text_config=text, vision_config=vision, **ids)
        return tf.Qwen2_5_VLForConditionalGeneration(config), proc
    vision = dict(vision_common, embed_dim=32, mlp_ratio=2)
    config = tf.Qwen2VLConfig(text_config=text, vision_config=vision, **ids)
    return tf.Qwen2VLForConditionalGeneration(config), proc


def _blip(instruct: bool):
    import transformers as tf

    tok = _tokenizer()
    image_processor = tf.BlipImageProcessor(size={"height": 32, "width": 32})
    if instruct:
        qtok = _tokenizer(bos="[CLS]", eos="[SEP]", pad="[PAD]", unk="[UNK]", vocab=300)
        proc = tf.InstructBlipProcessor(image_processor=image_processor, tokenizer=tok,
                                        qformer_tokenizer=qtok, num_query_tokens=4)
    else:
        proc = tf.Blip2Processor(image_processor=image_processor, tokenizer=tok, num_query_tokens=4)
    vision = dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4)
    qformer = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                   encoder_hidden_size=32, max_position_embeddings=64)
    if instruct:
        qformer["vocab_size"] = len(proc.qformer_tokenizer)
        qformer["pad_token_id"] = proc.qformer_tokenizer.pad_token_id
    text = tf.OPTConfig(vocab_size=len(tok), hidden_size=32, ffn_dim=64, num_hidden_layers=2,
                        num_attention_heads=4, word_embed_proj_dim=32, max_position_embeddings=512,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                        pad_token_id=tok.pad_token_id)
    image_id = tok.convert_tokens_to_ids("<image>")
    cls = (tf.InstructBlipConfig, tf.InstructBlipForConditionalGeneration) if instruct else (
        tf.Blip2Config, tf.Blip2ForConditionalGeneration)
    config = cls[0](vision_config=vision, qformer_config=qformer, text_config=text.to_dict(),
                    num_query_tokens=4, image_token_index=image_id)
    return cls[1](config), proc


_BUILDERS = {
    "llava": lambda: _llava(False), "llava_next": lambda: _llava(True), "paligemma": _paligemma,
    "idefics3": lambda: _idefics(False), "smolvlm": lambda: _idefics(True),
    "qwen2_vl": lambda: _qwen(False), "qwen2_5_vl": lambda: _qwen(True),
    "blip2": lambda: _blip(False), "instructblip": lambda: _blip(True),
}


def build_tiny(family: str, root: Path, seed: int = 0) -> Path:
    """Build, seed and save the tiny `family` model + processor under root/family; returns the folder."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, processor = _BUILDERS[family]()
        with torch.no_grad():  # peaked attention: at init (std 0.02) it is near-uniform, blind to positions
            for name, param in model.named_parameters():
                if name.endswith(("q_proj.weight", "k_proj.weight")):
                    param.mul_(_QK_GAIN)
    out = Path(root) / family
    model.eval().save_pretrained(out)
    processor.save_pretrained(out)
    return out
