"""Tensor names of the served models: what training exports, what config.pbtxt declares, what the gateway sends
and reads. One definition, so an exported model, its configuration and the gateway cannot drift apart."""

from __future__ import annotations

# The text model: token ids in (tokenization happens in the gateway), four outputs per message.
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
#: Temperature-scaled intent logits: their softmax is the calibrated intent distribution.
INTENT_LOGITS = "intent_logits"
#: Negative, neutral, positive.
SENTIMENT_LOGITS = "sentiment_logits"
#: The L2-normalised mean-pooled sentence embedding.
EMBEDDING = "embedding"
#: Temperature-scaled complaint-aspect logits, one per aspect of ASPECTS: their sigmoids are independent
#: calibrated probabilities (multi-label).
ASPECT_LOGITS = "aspect_logits"
#: The complaint aspects of feedback (the aspect output's columns), in taxonomy order; training/data/FEEDBACK.md
#: draws their boundaries. Every text model has one output per aspect, so the order is part of the model
#: interface: add at the end only.
ASPECTS = (
    "delivery_delay", "damaged_item", "wrong_item", "missing_item", "refund_delay", "returns_process", "billing",
    "staff_attitude", "waiting_time", "product_quality", "website_app", "communication",
)

TEXT_INPUTS = (INPUT_IDS, ATTENTION_MASK)
TEXT_OUTPUTS = (INTENT_LOGITS, SENTIMENT_LOGITS, EMBEDDING, ASPECT_LOGITS)

# The behaviour model: one customer's event sequence in (padded per batch), two outputs per customer.
#: Event type ids, 1-based in the order of the model's labels.json event_types; 0 is padding.
EVENT_TYPE_IDS = "event_types"
#: Per event: log1p(amount), log1p(item count), log1p(days since the previous event).
EVENT_NUMBERS = "event_numbers"
#: Real events per sequence (the rest is padding), shape [batch, 1].
HISTORY_LENGTHS = "lengths"
#: log1p(days from the last event to the scoring time), shape [batch, 1].
LOG_DAYS_SINCE_LAST = "log_days_since_last"
#: Calibrated probability of no order in the horizon (temperature inside the model), shape [batch, 1].
CHURN_PROBABILITY = "churn_probability"
#: Expected spend in the horizon, in the shop's currency, shape [batch, 1].
VALUE_90D = "value_90d"

BEHAVIOUR_INPUTS = (EVENT_TYPE_IDS, EVENT_NUMBERS, HISTORY_LENGTHS, LOG_DAYS_SINCE_LAST)
BEHAVIOUR_OUTPUTS = (CHURN_PROBABILITY, VALUE_90D)
