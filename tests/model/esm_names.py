"""Official parameters written under the names `transformers`' EsmForMaskedLM uses, for the
Hugging Face checkpoint tests (Linear weights stored [out, in], as torch does)."""

from __future__ import annotations

import numpy as np

PREFIX = "esm_transformer"
HEAD = f"{PREFIX}/~/esm_roberta_lm_head/~/"
# official per-layer module -> transformers' name inside `esm.encoder.layer.{i}`
BLOCK = {
    "mha/query": "attention.self.query",
    "mha/key": "attention.self.key",
    "mha/value": "attention.self.value",
    "mha/mha_output": "attention.output.dense",
    "mha_layer_norm": "attention.LayerNorm",
    "fc1": "intermediate.dense",
    "fc2": "output.dense",
    "final_layer_norm": "LayerNorm",
}
LM_HEAD = {
    "emb_layer_norm_after": "esm.encoder.emb_layer_norm_after",
    "lm_head_fc_1": "lm_head.dense",
    "lm_head_layer_norm": "lm_head.layer_norm",
}
LEAF = {"w": "weight", "b": "bias", "scale": "weight", "offset": "bias"}


def esm_state(flat: dict, n_layers: int) -> dict[str, np.ndarray]:
    """The state dict of an ESM model holding the official parameters `flat`.

    The LM head's output bias is stored as `lm_head.bias` (outside the decoder), as
    EsmForMaskedLM does; a learned position table is written when `flat` has one.
    """
    out = {"esm.embeddings.word_embeddings.weight": flat[f"{PREFIX}/~/embed"]["embeddings"]}
    positions = flat.get(f"{PREFIX}/~/esm_learned_positional_embeddings/~/embed")
    if positions is not None:
        out["esm.embeddings.position_embeddings.weight"] = positions["embeddings"]
    for i in range(n_layers):
        for ours, theirs in BLOCK.items():
            for name, a in flat[f"{PREFIX}/attention_layer_{i}/~/{ours}"].items():
                out[f"esm.encoder.layer.{i}.{theirs}.{LEAF[name]}"] = a.T if name == "w" else a
    for ours, theirs in LM_HEAD.items():
        for name, a in flat[HEAD + ours].items():
            out[f"{theirs}.{LEAF[name]}"] = a.T if name == "w" else a
    out["lm_head.decoder.weight"] = flat[HEAD + "lm_final_fc"]["w"].T
    out["lm_head.bias"] = flat[HEAD + "lm_final_fc"]["b"]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}
