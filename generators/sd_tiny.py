"""Tiny random-weight diffusion pipelines, built offline, for tests and benchmarks.

Three architectures, one per family the references used: `sd` (SD 1.x: one CLIP text encoder,
UNet), `sdxl` (MM-SafetyBench's SDXL: two CLIP text encoders, the second with a projection,
size/crop conditioning through added time ids) and `pixart` (HADES's PixArt-alpha: a DiT-style
transformer conditioned on a T5 encoder). Nothing is downloaded: no package here ships CLIP's or
T5's vocabulary, so the tokenizers are built in memory. The images are noise-like but the code
path (save_pretrained folder -> AutoPipelineForText2Image -> generation) is exactly the one real
models take. The SD 1.x one can carry a safety checker that flags every image, to exercise the
safety-checker policy (a flagged image comes back black from diffusers).
"""

from __future__ import annotations

from pathlib import Path

# Smallest shapes that still run every block type of the SD 1.x UNet and VAE.
_BLOCK_CHANNELS = (32, 64)
_TEXT_HIDDEN = 32


def _tokenizer():  # -> CLIPTokenizer
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab = {s: i for i, s in enumerate(symbols)}
    # Word-final forms: CLIP's BPE marks the last symbol of each word with </w>.
    vocab.update({s + "</w>": len(symbols) + i for i, s in enumerate(symbols)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _flagging_safety_checker():  # -> (StableDiffusionSafetyChecker, CLIPImageProcessor)
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    config = CLIPConfig(
        text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1},
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 16,
        },
        projection_dim=8,
    )
    checker = StableDiffusionSafetyChecker(config).eval()
    # A concept is flagged when the cosine similarity exceeds its threshold; one below -1 is
    # always exceeded, so every image is flagged.
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-2.0)
        checker.special_care_embeds_weights.fill_(-2.0)
    processor = CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    return checker, processor


def _vae(**changes: object):  # -> AutoencoderKL
    from diffusers import AutoencoderKL

    settings: dict[str, object] = {
        "block_out_channels": _BLOCK_CHANNELS,
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ("DownEncoderBlock2D",) * len(_BLOCK_CHANNELS),
        "up_block_types": ("UpDecoderBlock2D",) * len(_BLOCK_CHANNELS),
        "latent_channels": 4,
        "norm_num_groups": 32,
        "sample_size": 64,
    }
    return AutoencoderKL(**(settings | changes))


def _clip_config(tokenizer, **changes: object):  # -> CLIPTextConfig
    from transformers import CLIPTextConfig

    settings: dict[str, object] = {
        "vocab_size": len(tokenizer),
        "hidden_size": _TEXT_HIDDEN,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 77,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    return CLIPTextConfig(**(settings | changes))


def _ddim():  # -> DDIMScheduler
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def _sd(flagging_safety_checker: bool):  # -> StableDiffusionPipeline
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    unet = UNet2DConditionModel(
        block_out_channels=_BLOCK_CHANNELS,
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=_TEXT_HIDDEN,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    tokenizer = _tokenizer()
    checker, processor = _flagging_safety_checker() if flagging_safety_checker else (None, None)
    return StableDiffusionPipeline(
        unet=unet,
        vae=_vae(),
        text_encoder=CLIPTextModel(_clip_config(tokenizer)),
        tokenizer=tokenizer,
        scheduler=_ddim(),
        safety_checker=checker,
        feature_extractor=processor,
        requires_safety_checker=flagging_safety_checker,
    )


# SDXL's added conditioning: six size/crop numbers (original size, crop top-left, target size),
# each embedded in this many channels, plus the pooled projection of the second text encoder.
_TIME_EMBED = 8
_PROJECTION = 32


def _sdxl():  # -> StableDiffusionXLPipeline
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = _tokenizer()
    unet = UNet2DConditionModel(
        block_out_channels=_BLOCK_CHANNELS,
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=_TIME_EMBED,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * _TIME_EMBED + _PROJECTION,
        # The two encoders' hidden states are concatenated along the channels.
        cross_attention_dim=2 * _TEXT_HIDDEN,
        norm_num_groups=32,
    )
    # SDXL's own scheduler family (the base model ships EulerDiscreteScheduler).
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    return StableDiffusionXLPipeline(
        vae=_vae(),
        text_encoder=CLIPTextModel(_clip_config(tokenizer)),
        text_encoder_2=CLIPTextModelWithProjection(
            _clip_config(tokenizer, projection_dim=_PROJECTION)
        ),
        tokenizer=tokenizer,
        tokenizer_2=_tokenizer(),
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
    )


def _pixart():  # -> PixArtAlphaPipeline
    from diffusers import PixArtAlphaPipeline, PixArtTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    tokenizer = _t5_tokenizer()
    text_hidden = 32
    transformer = PixArtTransformer2DModel(
        # PixArt's resolution binning knows sample sizes 32/64/128 (256/512/1024 px); with this
        # VAE's 8x downscale 32 latents are 256 px.
        sample_size=32,
        num_layers=2,
        patch_size=2,
        attention_head_dim=8,
        num_attention_heads=3,
        caption_channels=text_hidden,
        in_channels=4,
        cross_attention_dim=24,
        out_channels=8,  # predicted noise and variance
        attention_bias=True,
        activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000,
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
    )
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer),
            d_model=text_hidden,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
    )
    # Four VAE blocks: the 8x downscale of real SD VAEs, which PixArt's binning assumes.
    vae = _vae(block_out_channels=(8, 8, 8, 8), norm_num_groups=8, sample_size=256)
    return PixArtAlphaPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=_ddim(),
    )


def _t5_tokenizer():  # -> T5Tokenizer
    """A T5 (unigram) tokenizer over printable ASCII, each character a piece of equal score."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    pieces += [(chr(c), -2.0) for c in range(33, 127)]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=120)


ARCHITECTURES = ("sd", "sdxl", "pixart")


def build_tiny_pipeline(
    folder: Path,
    *,
    architecture: str = "sd",
    flagging_safety_checker: bool = False,
    seed: int = 0,
) -> Path:
    """Save a tiny random pipeline of `architecture` (one of ARCHITECTURES) to `folder`; return
    it. `flagging_safety_checker` (sd only) adds a checker that flags every image."""
    import torch

    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture {architecture!r}: one of {', '.join(ARCHITECTURES)}")
    if flagging_safety_checker and architecture != "sd":
        raise ValueError("flagging_safety_checker: only the sd architecture has a checker")
    torch.manual_seed(seed)
    if architecture == "sd":
        pipe = _sd(flagging_safety_checker)
    else:
        pipe = _sdxl() if architecture == "sdxl" else _pixart()
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(folder)
    return folder
