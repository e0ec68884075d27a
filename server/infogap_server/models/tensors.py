"""Tensor names of the served models: what training exports, what config.pbtxt declares, what the gateway sends
and reads. One definition, so an exported model, its configuration and the gateway cannot drift apart."""

from __future__ import annotations

# The text model: token ids in (tokenization happens in the gateway), three outputs per message.
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
#: Temperature-scaled intent logits: their softmax is the calibrated intent distribution.
INTENT_LOGITS = "intent_logits"
#: Negative, neutral, positive.
SENTIMENT_LOGITS = "sentiment_logits"
#: The L2-normalised mean-pooled sentence embedding.
EMBEDDING = "embedding"

TEXT_INPUTS = (INPUT_IDS, ATTENTION_MASK)
TEXT_OUTPUTS = (INTENT_LOGITS, SENTIMENT_LOGITS, EMBEDDING)
