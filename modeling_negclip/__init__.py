"""NegCLIP: a negation-aware plug-in for CLIP, as a Hugging Face Transformers model package."""

from transformers import AutoConfig, AutoModel, AutoModelForZeroShotImageClassification

from .configuration_negclip import NEGATION_LABELS, NegCLIPConfig
from .modeling_negclip import NegCLIPModel, NegCLIPOutput, NegCLIPSplit, NegCLIPTextOutput
from .negation_cues import DEFAULT_NEGATION_CUE_WORDS

# In-process Auto* lookups, and `auto_map` entries written by save_pretrained for remote-code loading.
AutoConfig.register(NegCLIPConfig.model_type, NegCLIPConfig)
AutoModel.register(NegCLIPConfig, NegCLIPModel)
AutoModelForZeroShotImageClassification.register(NegCLIPConfig, NegCLIPModel)
NegCLIPConfig.register_for_auto_class()
NegCLIPModel.register_for_auto_class("AutoModel")  # save_pretrained adds the zero-shot pipeline's entry

__all__ = ["DEFAULT_NEGATION_CUE_WORDS", "NEGATION_LABELS", "NegCLIPConfig", "NegCLIPModel", "NegCLIPOutput", "NegCLIPSplit", "NegCLIPTextOutput"]
