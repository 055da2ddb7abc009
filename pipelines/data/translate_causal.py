"""Translation with a causal instruct model through its chat template: HF id, folder or GGUF.

    model = CausalTranslationModel(".cache/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    model.translate(["Which day comes after Monday?"], "en", "fr", batch_size=8,
                    max_new_tokens=128, device="cpu")

Each text becomes one user turn holding a fixed instruction (INSTRUCTION, language names in
English from CLDR) followed by the text; the chat template adds the generation prompt. Greedy
decoding, batches sorted by length and left-padded, the answer read until the end token and
stripped, with the model's mean log-probability of its answer tokens
(pipelines/data/translation_quality.py). pipelines/data/translate.py owns the cache and the batching
statistics; its cache name for these models carries INSTRUCTION_ID, so a changed instruction
is never served stale text.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from functools import cache
from typing import Any

from tqdm.auto import tqdm

from capo.errors import CapoError
from capo_pipelines.data.translation_quality import Translation, mean_logprobs
from capo_pipelines.models.gguf import is_gguf, load_gguf

__all__ = ["INSTRUCTION", "INSTRUCTION_ID", "CausalTranslationModel", "is_causal", "language_name"]

log = logging.getLogger(__name__)

INSTRUCTION = (
    "Translate the following text from {source} to {target}. "
    "Reply with the {target} translation only.\n\n{text}"
)
INSTRUCTION_ID = hashlib.sha1(INSTRUCTION.encode()).hexdigest()[:8]


@cache
def language_name(code: str) -> str:
    """The English name of a language code (CLDR, via Babel), else the code itself."""
    from babel import Locale

    return Locale("en").languages.get(code, code)


def is_causal(name: str) -> bool:
    """True for a GGUF file or a model whose config is not encoder-decoder (read offline)."""
    if is_gguf(name):
        return True
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(name)
    except (OSError, ValueError):
        return False  # unknown here: the seq2seq loader reports the problem
    return not getattr(config, "is_encoder_decoder", False)


class CausalTranslationModel:
    """A causal LM and its tokenizer, loaded once, that translate through the chat template."""

    def __init__(self, name: str, device: str = "cpu") -> None:
        self.name = name
        try:
            if is_gguf(name):
                self.model, self.tokenizer = load_gguf(name)
            else:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                self.tokenizer = AutoTokenizer.from_pretrained(name)
                self.model = AutoModelForCausalLM.from_pretrained(name)
        except (OSError, ValueError) as err:
            first = (str(err).strip().splitlines() or [repr(err)])[0]
            raise CapoError(f"ingest.translation.model {name!r}: cannot load: {first}") from None
        if not getattr(self.tokenizer, "chat_template", None):
            raise CapoError(
                f"ingest.translation.model {name!r}: its tokenizer has no chat template"
            )
        self.model.to(device).eval()
        self.device = device

    def _prompt_ids(self, text: str, src: str, tgt: str) -> list[int]:
        content = INSTRUCTION.format(
            source=language_name(src), target=language_name(tgt), text=text
        )
        messages = [{"role": "user", "content": content}]
        out = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return list(out["input_ids"])

    def translate(
        self,
        texts: Sequence[str],
        src: str,
        tgt: str,
        *,
        batch_size: int,
        max_new_tokens: int,
        stats: Any = None,
    ) -> list[Translation]:
        """Greedy translations of ``texts`` from ``src`` to ``tgt`` with their mean token
        log-probabilities, in order."""
        import torch

        ids = [self._prompt_ids(t, src, tgt) for t in texts]
        order = sorted(range(len(ids)), key=lambda i: (len(ids[i]), i))
        pad = self.tokenizer.pad_token_id
        pad = self.tokenizer.eos_token_id if pad is None else pad
        out = [Translation("", 0.0)] * len(texts)
        for start in tqdm(range(0, len(order), batch_size), desc=f"translate {src}->{tgt}"):
            idx = order[start : start + batch_size]
            width = max(len(ids[i]) for i in idx)
            batch = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):  # left padding: every answer starts at column `width`
                batch[row, width - len(ids[i]) :] = torch.tensor(ids[i])
                mask[row, width - len(ids[i]) :] = 1
            with torch.inference_mode():
                gen = self.model.generate(
                    input_ids=batch.to(self.device),
                    attention_mask=mask.to(self.device),
                    do_sample=False,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=pad,
                    eos_token_id=self.tokenizer.eos_token_id,
                    output_scores=True,
                    return_dict_in_generate=True,
                )
                logprobs = mean_logprobs(self.model, gen, [self.tokenizer.eos_token_id])
            answers = self.tokenizer.batch_decode(
                gen.sequences[:, width:], skip_special_tokens=True
            )
            for i, text, lp in zip(idx, answers, logprobs, strict=True):
                out[i] = Translation(text.strip(), lp)
            if stats is not None:
                stats["batches"] += 1
                stats["translated"] += len(idx)
        return out
