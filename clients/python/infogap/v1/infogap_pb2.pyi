import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BehaviorEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BEHAVIOR_EVENT_TYPE_UNSPECIFIED: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_ORDER: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_CONTACT: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_RETURN: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_COMPLAINT: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_CANCELLATION: _ClassVar[BehaviorEventType]
    BEHAVIOR_EVENT_TYPE_REFUND: _ClassVar[BehaviorEventType]

class SentimentLabel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SENTIMENT_LABEL_UNSPECIFIED: _ClassVar[SentimentLabel]
    SENTIMENT_LABEL_NEGATIVE: _ClassVar[SentimentLabel]
    SENTIMENT_LABEL_NEUTRAL: _ClassVar[SentimentLabel]
    SENTIMENT_LABEL_POSITIVE: _ClassVar[SentimentLabel]

class UrgencyLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    URGENCY_LEVEL_UNSPECIFIED: _ClassVar[UrgencyLevel]
    URGENCY_LEVEL_LOW: _ClassVar[UrgencyLevel]
    URGENCY_LEVEL_MEDIUM: _ClassVar[UrgencyLevel]
    URGENCY_LEVEL_HIGH: _ClassVar[UrgencyLevel]

class PlanKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLAN_KIND_UNSPECIFIED: _ClassVar[PlanKind]
    PLAN_KIND_RESOLUTION: _ClassVar[PlanKind]
    PLAN_KIND_OFFER: _ClassVar[PlanKind]
    PLAN_KIND_PRODUCT: _ClassVar[PlanKind]
    PLAN_KIND_INFORMATION: _ClassVar[PlanKind]
    PLAN_KIND_CONTACT: _ClassVar[PlanKind]

class SessionStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STAGE_UNSPECIFIED: _ClassVar[SessionStage]
    SESSION_STAGE_DISCOVERY: _ClassVar[SessionStage]
    SESSION_STAGE_RESOLVING: _ClassVar[SessionStage]
    SESSION_STAGE_ESCALATED: _ClassVar[SessionStage]
    SESSION_STAGE_CLOSED: _ClassVar[SessionStage]

class InsightPeriod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSIGHT_PERIOD_UNSPECIFIED: _ClassVar[InsightPeriod]
    INSIGHT_PERIOD_HOUR: _ClassVar[InsightPeriod]
    INSIGHT_PERIOD_DAY: _ClassVar[InsightPeriod]
    INSIGHT_PERIOD_WEEK: _ClassVar[InsightPeriod]

class AlertStream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_STREAM_UNSPECIFIED: _ClassVar[AlertStream]
    ALERT_STREAM_OVERALL: _ClassVar[AlertStream]
    ALERT_STREAM_ASPECT: _ClassVar[AlertStream]
    ALERT_STREAM_INTENT: _ClassVar[AlertStream]
BEHAVIOR_EVENT_TYPE_UNSPECIFIED: BehaviorEventType
BEHAVIOR_EVENT_TYPE_ORDER: BehaviorEventType
BEHAVIOR_EVENT_TYPE_CONTACT: BehaviorEventType
BEHAVIOR_EVENT_TYPE_RETURN: BehaviorEventType
BEHAVIOR_EVENT_TYPE_COMPLAINT: BehaviorEventType
BEHAVIOR_EVENT_TYPE_CANCELLATION: BehaviorEventType
BEHAVIOR_EVENT_TYPE_REFUND: BehaviorEventType
SENTIMENT_LABEL_UNSPECIFIED: SentimentLabel
SENTIMENT_LABEL_NEGATIVE: SentimentLabel
SENTIMENT_LABEL_NEUTRAL: SentimentLabel
SENTIMENT_LABEL_POSITIVE: SentimentLabel
URGENCY_LEVEL_UNSPECIFIED: UrgencyLevel
URGENCY_LEVEL_LOW: UrgencyLevel
URGENCY_LEVEL_MEDIUM: UrgencyLevel
URGENCY_LEVEL_HIGH: UrgencyLevel
PLAN_KIND_UNSPECIFIED: PlanKind
PLAN_KIND_RESOLUTION: PlanKind
PLAN_KIND_OFFER: PlanKind
PLAN_KIND_PRODUCT: PlanKind
PLAN_KIND_INFORMATION: PlanKind
PLAN_KIND_CONTACT: PlanKind
SESSION_STAGE_UNSPECIFIED: SessionStage
SESSION_STAGE_DISCOVERY: SessionStage
SESSION_STAGE_RESOLVING: SessionStage
SESSION_STAGE_ESCALATED: SessionStage
SESSION_STAGE_CLOSED: SessionStage
INSIGHT_PERIOD_UNSPECIFIED: InsightPeriod
INSIGHT_PERIOD_HOUR: InsightPeriod
INSIGHT_PERIOD_DAY: InsightPeriod
INSIGHT_PERIOD_WEEK: InsightPeriod
ALERT_STREAM_UNSPECIFIED: AlertStream
ALERT_STREAM_OVERALL: AlertStream
ALERT_STREAM_ASPECT: AlertStream
ALERT_STREAM_INTENT: AlertStream

class ModelInfo(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class BehaviorEvent(_message.Message):
    __slots__ = ("type", "time", "amount", "item_count")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    type: BehaviorEventType
    time: _timestamp_pb2.Timestamp
    amount: float
    item_count: int
    def __init__(self, type: _Optional[_Union[BehaviorEventType, str]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amount: _Optional[float] = ..., item_count: _Optional[int] = ...) -> None: ...

class Sentiment(_message.Message):
    __slots__ = ("label", "score", "negative", "neutral", "positive")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    NEUTRAL_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_FIELD_NUMBER: _ClassVar[int]
    label: SentimentLabel
    score: float
    negative: float
    neutral: float
    positive: float
    def __init__(self, label: _Optional[_Union[SentimentLabel, str]] = ..., score: _Optional[float] = ..., negative: _Optional[float] = ..., neutral: _Optional[float] = ..., positive: _Optional[float] = ...) -> None: ...

class Urgency(_message.Message):
    __slots__ = ("level", "score", "signals")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    level: UrgencyLevel
    score: float
    signals: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, level: _Optional[_Union[UrgencyLevel, str]] = ..., score: _Optional[float] = ..., signals: _Optional[_Iterable[str]] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("type", "text", "start", "end", "normalized")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    NORMALIZED_FIELD_NUMBER: _ClassVar[int]
    type: str
    text: str
    start: int
    end: int
    normalized: str
    def __init__(self, type: _Optional[str] = ..., text: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., normalized: _Optional[str] = ...) -> None: ...

class IdentifyNeedsRequest(_message.Message):
    __slots__ = ("customer_id", "text", "language", "history", "top_k", "request_id")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    text: str
    language: str
    history: _containers.RepeatedCompositeFieldContainer[BehaviorEvent]
    top_k: int
    request_id: str
    def __init__(self, customer_id: _Optional[str] = ..., text: _Optional[str] = ..., language: _Optional[str] = ..., history: _Optional[_Iterable[_Union[BehaviorEvent, _Mapping]]] = ..., top_k: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class Need(_message.Message):
    __slots__ = ("intent", "score")
    INTENT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    intent: str
    score: float
    def __init__(self, intent: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class IdentifyNeedsResponse(_message.Message):
    __slots__ = ("needs", "out_of_scope", "sentiment", "urgency", "entities", "churn_risk", "model", "request_id", "history_events_used", "history_from_store", "behaviour_model")
    NEEDS_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_SCOPE_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    URGENCY_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    CHURN_RISK_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    HISTORY_EVENTS_USED_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FROM_STORE_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOUR_MODEL_FIELD_NUMBER: _ClassVar[int]
    needs: _containers.RepeatedCompositeFieldContainer[Need]
    out_of_scope: bool
    sentiment: Sentiment
    urgency: Urgency
    entities: _containers.RepeatedCompositeFieldContainer[Entity]
    churn_risk: float
    model: ModelInfo
    request_id: str
    history_events_used: int
    history_from_store: bool
    behaviour_model: ModelInfo
    def __init__(self, needs: _Optional[_Iterable[_Union[Need, _Mapping]]] = ..., out_of_scope: bool = ..., sentiment: _Optional[_Union[Sentiment, _Mapping]] = ..., urgency: _Optional[_Union[Urgency, _Mapping]] = ..., entities: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., churn_risk: _Optional[float] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ..., request_id: _Optional[str] = ..., history_events_used: _Optional[int] = ..., history_from_store: bool = ..., behaviour_model: _Optional[_Union[ModelInfo, _Mapping]] = ...) -> None: ...

class RecommendRequest(_message.Message):
    __slots__ = ("customer_id", "intent", "text", "history", "top_k", "request_id", "channel", "order_age_days", "order_amount", "explain")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ORDER_AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    ORDER_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    intent: str
    text: str
    history: _containers.RepeatedCompositeFieldContainer[BehaviorEvent]
    top_k: int
    request_id: str
    channel: str
    order_age_days: float
    order_amount: float
    explain: bool
    def __init__(self, customer_id: _Optional[str] = ..., intent: _Optional[str] = ..., text: _Optional[str] = ..., history: _Optional[_Iterable[_Union[BehaviorEvent, _Mapping]]] = ..., top_k: _Optional[int] = ..., request_id: _Optional[str] = ..., channel: _Optional[str] = ..., order_age_days: _Optional[float] = ..., order_amount: _Optional[float] = ..., explain: bool = ...) -> None: ...

class ExcludedPlan(_message.Message):
    __slots__ = ("plan_id", "reasons")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, plan_id: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class Plan(_message.Message):
    __slots__ = ("plan_id", "kind", "title", "expected_satisfaction", "reasons", "probability", "cost", "requires_approval", "unchecked", "description")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SATISFACTION_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    UNCHECKED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    kind: PlanKind
    title: str
    expected_satisfaction: float
    reasons: _containers.RepeatedScalarFieldContainer[str]
    probability: float
    cost: float
    requires_approval: bool
    unchecked: _containers.RepeatedScalarFieldContainer[str]
    description: str
    def __init__(self, plan_id: _Optional[str] = ..., kind: _Optional[_Union[PlanKind, str]] = ..., title: _Optional[str] = ..., expected_satisfaction: _Optional[float] = ..., reasons: _Optional[_Iterable[str]] = ..., probability: _Optional[float] = ..., cost: _Optional[float] = ..., requires_approval: bool = ..., unchecked: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ...) -> None: ...

class RecommendResponse(_message.Message):
    __slots__ = ("plans", "model", "request_id", "decision_id", "policy_version", "catalogue_version", "out_of_scope", "excluded", "intent", "explored")
    PLANS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CATALOGUE_VERSION_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_SCOPE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    EXPLORED_FIELD_NUMBER: _ClassVar[int]
    plans: _containers.RepeatedCompositeFieldContainer[Plan]
    model: ModelInfo
    request_id: str
    decision_id: str
    policy_version: str
    catalogue_version: str
    out_of_scope: bool
    excluded: _containers.RepeatedCompositeFieldContainer[ExcludedPlan]
    intent: str
    explored: bool
    def __init__(self, plans: _Optional[_Iterable[_Union[Plan, _Mapping]]] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ..., request_id: _Optional[str] = ..., decision_id: _Optional[str] = ..., policy_version: _Optional[str] = ..., catalogue_version: _Optional[str] = ..., out_of_scope: bool = ..., excluded: _Optional[_Iterable[_Union[ExcludedPlan, _Mapping]]] = ..., intent: _Optional[str] = ..., explored: bool = ...) -> None: ...

class SessionMessage(_message.Message):
    __slots__ = ("from_customer", "text")
    FROM_CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    from_customer: bool
    text: str
    def __init__(self, from_customer: bool = ..., text: _Optional[str] = ...) -> None: ...

class AgentAction(_message.Message):
    __slots__ = ("action", "plan_id")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    action: str
    plan_id: str
    def __init__(self, action: _Optional[str] = ..., plan_id: _Optional[str] = ...) -> None: ...

class Wait(_message.Message):
    __slots__ = ("duration_s",)
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    duration_s: float
    def __init__(self, duration_s: _Optional[float] = ...) -> None: ...

class Transfer(_message.Message):
    __slots__ = ("to_queue",)
    TO_QUEUE_FIELD_NUMBER: _ClassVar[int]
    to_queue: str
    def __init__(self, to_queue: _Optional[str] = ...) -> None: ...

class SessionEnd(_message.Message):
    __slots__ = ("resolved",)
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    resolved: bool
    def __init__(self, resolved: bool = ...) -> None: ...

class Resume(_message.Message):
    __slots__ = ("last_sequence",)
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    last_sequence: int
    def __init__(self, last_sequence: _Optional[int] = ...) -> None: ...

class SessionEvent(_message.Message):
    __slots__ = ("session_id", "customer_id", "time", "message", "agent_action", "wait", "transfer", "end", "resume", "client_event_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ACTION_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    customer_id: str
    time: _timestamp_pb2.Timestamp
    message: SessionMessage
    agent_action: AgentAction
    wait: Wait
    transfer: Transfer
    end: SessionEnd
    resume: Resume
    client_event_id: str
    def __init__(self, session_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., message: _Optional[_Union[SessionMessage, _Mapping]] = ..., agent_action: _Optional[_Union[AgentAction, _Mapping]] = ..., wait: _Optional[_Union[Wait, _Mapping]] = ..., transfer: _Optional[_Union[Transfer, _Mapping]] = ..., end: _Optional[_Union[SessionEnd, _Mapping]] = ..., resume: _Optional[_Union[Resume, _Mapping]] = ..., client_event_id: _Optional[str] = ...) -> None: ...

class SessionState(_message.Message):
    __slots__ = ("session_id", "stage", "sentiment_trend", "sla_breach_risk", "escalation_risk", "next_best_action", "events_seen", "current_need", "sequence", "duplicate", "next_action", "runner_up", "sentiment_level", "elapsed_s", "wait_s", "transfers", "queue", "sla_target_s", "policy_version", "close_reason", "missed_events", "allowed_actions")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_TREND_FIELD_NUMBER: _ClassVar[int]
    SLA_BREACH_RISK_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_RISK_FIELD_NUMBER: _ClassVar[int]
    NEXT_BEST_ACTION_FIELD_NUMBER: _ClassVar[int]
    EVENTS_SEEN_FIELD_NUMBER: _ClassVar[int]
    CURRENT_NEED_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    NEXT_ACTION_FIELD_NUMBER: _ClassVar[int]
    RUNNER_UP_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_LEVEL_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_S_FIELD_NUMBER: _ClassVar[int]
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    TRANSFERS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    SLA_TARGET_S_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CLOSE_REASON_FIELD_NUMBER: _ClassVar[int]
    MISSED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    stage: SessionStage
    sentiment_trend: float
    sla_breach_risk: float
    escalation_risk: float
    next_best_action: str
    events_seen: int
    current_need: Need
    sequence: int
    duplicate: bool
    next_action: ActionValue
    runner_up: ActionValue
    sentiment_level: float
    elapsed_s: float
    wait_s: float
    transfers: int
    queue: str
    sla_target_s: float
    policy_version: str
    close_reason: str
    missed_events: int
    allowed_actions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, session_id: _Optional[str] = ..., stage: _Optional[_Union[SessionStage, str]] = ..., sentiment_trend: _Optional[float] = ..., sla_breach_risk: _Optional[float] = ..., escalation_risk: _Optional[float] = ..., next_best_action: _Optional[str] = ..., events_seen: _Optional[int] = ..., current_need: _Optional[_Union[Need, _Mapping]] = ..., sequence: _Optional[int] = ..., duplicate: bool = ..., next_action: _Optional[_Union[ActionValue, _Mapping]] = ..., runner_up: _Optional[_Union[ActionValue, _Mapping]] = ..., sentiment_level: _Optional[float] = ..., elapsed_s: _Optional[float] = ..., wait_s: _Optional[float] = ..., transfers: _Optional[int] = ..., queue: _Optional[str] = ..., sla_target_s: _Optional[float] = ..., policy_version: _Optional[str] = ..., close_reason: _Optional[str] = ..., missed_events: _Optional[int] = ..., allowed_actions: _Optional[_Iterable[str]] = ...) -> None: ...

class ActionValue(_message.Message):
    __slots__ = ("action", "value", "source")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    action: str
    value: float
    source: str
    def __init__(self, action: _Optional[str] = ..., value: _Optional[float] = ..., source: _Optional[str] = ...) -> None: ...

class SubmitFeedbackRequest(_message.Message):
    __slots__ = ("feedback_id", "customer_id", "session_id", "rating", "text", "intent", "plan_id", "decision_id", "request_id", "resolved")
    FEEDBACK_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    feedback_id: str
    customer_id: str
    session_id: str
    rating: int
    text: str
    intent: str
    plan_id: str
    decision_id: str
    request_id: str
    resolved: bool
    def __init__(self, feedback_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., session_id: _Optional[str] = ..., rating: _Optional[int] = ..., text: _Optional[str] = ..., intent: _Optional[str] = ..., plan_id: _Optional[str] = ..., decision_id: _Optional[str] = ..., request_id: _Optional[str] = ..., resolved: bool = ...) -> None: ...

class FeedbackReceipt(_message.Message):
    __slots__ = ("feedback_id", "duplicate", "sentiment", "keywords", "aspects", "stored_at", "request_id", "model", "aspect_scores", "keyword_scores")
    FEEDBACK_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    ASPECTS_FIELD_NUMBER: _ClassVar[int]
    STORED_AT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ASPECT_SCORES_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_SCORES_FIELD_NUMBER: _ClassVar[int]
    feedback_id: str
    duplicate: bool
    sentiment: Sentiment
    keywords: _containers.RepeatedScalarFieldContainer[str]
    aspects: _containers.RepeatedScalarFieldContainer[str]
    stored_at: _timestamp_pb2.Timestamp
    request_id: str
    model: ModelInfo
    aspect_scores: _containers.RepeatedCompositeFieldContainer[TermScore]
    keyword_scores: _containers.RepeatedCompositeFieldContainer[TermScore]
    def __init__(self, feedback_id: _Optional[str] = ..., duplicate: bool = ..., sentiment: _Optional[_Union[Sentiment, _Mapping]] = ..., keywords: _Optional[_Iterable[str]] = ..., aspects: _Optional[_Iterable[str]] = ..., stored_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ..., aspect_scores: _Optional[_Iterable[_Union[TermScore, _Mapping]]] = ..., keyword_scores: _Optional[_Iterable[_Union[TermScore, _Mapping]]] = ...) -> None: ...

class TermScore(_message.Message):
    __slots__ = ("term", "score")
    TERM_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    term: str
    score: float
    def __init__(self, term: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class CustomerEvent(_message.Message):
    __slots__ = ("customer_id", "event_id", "event", "note")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    event_id: str
    event: BehaviorEvent
    note: str
    def __init__(self, customer_id: _Optional[str] = ..., event_id: _Optional[str] = ..., event: _Optional[_Union[BehaviorEvent, _Mapping]] = ..., note: _Optional[str] = ...) -> None: ...

class RecordEventsRequest(_message.Message):
    __slots__ = ("events", "request_id")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[CustomerEvent]
    request_id: str
    def __init__(self, events: _Optional[_Iterable[_Union[CustomerEvent, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RejectedEvent(_message.Message):
    __slots__ = ("index", "field", "reason", "code")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    index: int
    field: str
    reason: str
    code: str
    def __init__(self, index: _Optional[int] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ..., code: _Optional[str] = ...) -> None: ...

class DropCount(_message.Message):
    __slots__ = ("reason", "count")
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    count: int
    def __init__(self, reason: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class RecordEventsResponse(_message.Message):
    __slots__ = ("stored", "duplicates", "rejected", "dropped", "request_id")
    STORED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    stored: int
    duplicates: int
    rejected: _containers.RepeatedCompositeFieldContainer[RejectedEvent]
    dropped: _containers.RepeatedCompositeFieldContainer[DropCount]
    request_id: str
    def __init__(self, stored: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[_Iterable[_Union[RejectedEvent, _Mapping]]] = ..., dropped: _Optional[_Iterable[_Union[DropCount, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetCustomerProfileRequest(_message.Message):
    __slots__ = ("customer_id", "as_of", "request_id")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    as_of: _timestamp_pb2.Timestamp
    request_id: str
    def __init__(self, customer_id: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class EventTypeCount(_message.Message):
    __slots__ = ("type", "count", "amount")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    type: BehaviorEventType
    count: int
    amount: float
    def __init__(self, type: _Optional[_Union[BehaviorEventType, str]] = ..., count: _Optional[int] = ..., amount: _Optional[float] = ...) -> None: ...

class Rfm(_message.Message):
    __slots__ = ("recency_days", "frequency", "monetary", "recency_score", "frequency_score", "monetary_score")
    RECENCY_DAYS_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    MONETARY_FIELD_NUMBER: _ClassVar[int]
    RECENCY_SCORE_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_SCORE_FIELD_NUMBER: _ClassVar[int]
    MONETARY_SCORE_FIELD_NUMBER: _ClassVar[int]
    recency_days: int
    frequency: int
    monetary: float
    recency_score: int
    frequency_score: int
    monetary_score: int
    def __init__(self, recency_days: _Optional[int] = ..., frequency: _Optional[int] = ..., monetary: _Optional[float] = ..., recency_score: _Optional[int] = ..., frequency_score: _Optional[int] = ..., monetary_score: _Optional[int] = ...) -> None: ...

class OpenIssue(_message.Message):
    __slots__ = ("type", "time", "event_id", "amount")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    type: BehaviorEventType
    time: _timestamp_pb2.Timestamp
    event_id: str
    amount: float
    def __init__(self, type: _Optional[_Union[BehaviorEventType, str]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_id: _Optional[str] = ..., amount: _Optional[float] = ...) -> None: ...

class CustomerProfile(_message.Message):
    __slots__ = ("as_of", "total_events", "events_by_type", "rfm", "segment", "first_activity", "last_activity", "open_issues", "churn_risk", "currency", "request_id", "churn_reasons", "expected_value_90d", "behaviour_model")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EVENTS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_BY_TYPE_FIELD_NUMBER: _ClassVar[int]
    RFM_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    FIRST_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    OPEN_ISSUES_FIELD_NUMBER: _ClassVar[int]
    CHURN_RISK_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CHURN_REASONS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VALUE_90D_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOUR_MODEL_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    total_events: int
    events_by_type: _containers.RepeatedCompositeFieldContainer[EventTypeCount]
    rfm: Rfm
    segment: str
    first_activity: _timestamp_pb2.Timestamp
    last_activity: _timestamp_pb2.Timestamp
    open_issues: _containers.RepeatedCompositeFieldContainer[OpenIssue]
    churn_risk: float
    currency: str
    request_id: str
    churn_reasons: _containers.RepeatedCompositeFieldContainer[ChurnReason]
    expected_value_90d: float
    behaviour_model: ModelInfo
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., total_events: _Optional[int] = ..., events_by_type: _Optional[_Iterable[_Union[EventTypeCount, _Mapping]]] = ..., rfm: _Optional[_Union[Rfm, _Mapping]] = ..., segment: _Optional[str] = ..., first_activity: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_activity: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., open_issues: _Optional[_Iterable[_Union[OpenIssue, _Mapping]]] = ..., churn_risk: _Optional[float] = ..., currency: _Optional[str] = ..., request_id: _Optional[str] = ..., churn_reasons: _Optional[_Iterable[_Union[ChurnReason, _Mapping]]] = ..., expected_value_90d: _Optional[float] = ..., behaviour_model: _Optional[_Union[ModelInfo, _Mapping]] = ...) -> None: ...

class ChurnReason(_message.Message):
    __slots__ = ("signal", "description", "contribution")
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    signal: str
    description: str
    contribution: float
    def __init__(self, signal: _Optional[str] = ..., description: _Optional[str] = ..., contribution: _Optional[float] = ...) -> None: ...

class EraseCustomerRequest(_message.Message):
    __slots__ = ("customer_id", "request_id")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    request_id: str
    def __init__(self, customer_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class TableCount(_message.Message):
    __slots__ = ("table", "rows")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    table: str
    rows: int
    def __init__(self, table: _Optional[str] = ..., rows: _Optional[int] = ...) -> None: ...

class EraseCustomerResponse(_message.Message):
    __slots__ = ("deleted", "audit_id", "erased_at", "request_id")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    AUDIT_ID_FIELD_NUMBER: _ClassVar[int]
    ERASED_AT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    deleted: _containers.RepeatedCompositeFieldContainer[TableCount]
    audit_id: str
    erased_at: _timestamp_pb2.Timestamp
    request_id: str
    def __init__(self, deleted: _Optional[_Iterable[_Union[TableCount, _Mapping]]] = ..., audit_id: _Optional[str] = ..., erased_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetInsightsRequest(_message.Message):
    __slots__ = ("since", "until", "intent", "plan_id", "segment", "period", "top_n", "request_id")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    TOP_N_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    intent: str
    plan_id: str
    segment: str
    period: InsightPeriod
    top_n: int
    request_id: str
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., intent: _Optional[str] = ..., plan_id: _Optional[str] = ..., segment: _Optional[str] = ..., period: _Optional[_Union[InsightPeriod, str]] = ..., top_n: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class SatisfactionGroup(_message.Message):
    __slots__ = ("key", "count", "mean_rating", "csat", "period_start")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MEAN_RATING_FIELD_NUMBER: _ClassVar[int]
    CSAT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    key: str
    count: int
    mean_rating: float
    csat: float
    period_start: _timestamp_pb2.Timestamp
    def __init__(self, key: _Optional[str] = ..., count: _Optional[int] = ..., mean_rating: _Optional[float] = ..., csat: _Optional[float] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TermTrend(_message.Message):
    __slots__ = ("term", "count", "previous_count", "change")
    TERM_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    term: str
    count: int
    previous_count: int
    change: float
    def __init__(self, term: _Optional[str] = ..., count: _Optional[int] = ..., previous_count: _Optional[int] = ..., change: _Optional[float] = ...) -> None: ...

class InsightsResponse(_message.Message):
    __slots__ = ("since", "until", "overall", "previous", "by_intent", "by_plan", "by_segment", "by_period", "top_aspects", "top_keywords", "request_id")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    OVERALL_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    BY_INTENT_FIELD_NUMBER: _ClassVar[int]
    BY_PLAN_FIELD_NUMBER: _ClassVar[int]
    BY_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    BY_PERIOD_FIELD_NUMBER: _ClassVar[int]
    TOP_ASPECTS_FIELD_NUMBER: _ClassVar[int]
    TOP_KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    overall: SatisfactionGroup
    previous: SatisfactionGroup
    by_intent: _containers.RepeatedCompositeFieldContainer[SatisfactionGroup]
    by_plan: _containers.RepeatedCompositeFieldContainer[SatisfactionGroup]
    by_segment: _containers.RepeatedCompositeFieldContainer[SatisfactionGroup]
    by_period: _containers.RepeatedCompositeFieldContainer[SatisfactionGroup]
    top_aspects: _containers.RepeatedCompositeFieldContainer[TermTrend]
    top_keywords: _containers.RepeatedCompositeFieldContainer[TermTrend]
    request_id: str
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., overall: _Optional[_Union[SatisfactionGroup, _Mapping]] = ..., previous: _Optional[_Union[SatisfactionGroup, _Mapping]] = ..., by_intent: _Optional[_Iterable[_Union[SatisfactionGroup, _Mapping]]] = ..., by_plan: _Optional[_Iterable[_Union[SatisfactionGroup, _Mapping]]] = ..., by_segment: _Optional[_Iterable[_Union[SatisfactionGroup, _Mapping]]] = ..., by_period: _Optional[_Iterable[_Union[SatisfactionGroup, _Mapping]]] = ..., top_aspects: _Optional[_Iterable[_Union[TermTrend, _Mapping]]] = ..., top_keywords: _Optional[_Iterable[_Union[TermTrend, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class WatchAlertsRequest(_message.Message):
    __slots__ = ("since", "kinds", "keys", "follow", "request_id")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    kinds: _containers.RepeatedScalarFieldContainer[AlertStream]
    keys: _containers.RepeatedScalarFieldContainer[str]
    follow: bool
    request_id: str
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kinds: _Optional[_Iterable[_Union[AlertStream, str]]] = ..., keys: _Optional[_Iterable[str]] = ..., follow: bool = ..., request_id: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("alert_id", "kind", "key", "window_start_sequence", "window_end_sequence", "window_start", "window_end", "window_events", "observed_count", "observed_rate", "expected_rate", "baseline_events", "baseline_count", "p_value", "alpha", "example_feedback_ids", "fired_at", "request_id")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    WINDOW_EVENTS_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_COUNT_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_RATE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_RATE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    BASELINE_COUNT_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_FEEDBACK_IDS_FIELD_NUMBER: _ClassVar[int]
    FIRED_AT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    kind: AlertStream
    key: str
    window_start_sequence: int
    window_end_sequence: int
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    window_events: int
    observed_count: int
    observed_rate: float
    expected_rate: float
    baseline_events: int
    baseline_count: int
    p_value: float
    alpha: float
    example_feedback_ids: _containers.RepeatedScalarFieldContainer[str]
    fired_at: _timestamp_pb2.Timestamp
    request_id: str
    def __init__(self, alert_id: _Optional[str] = ..., kind: _Optional[_Union[AlertStream, str]] = ..., key: _Optional[str] = ..., window_start_sequence: _Optional[int] = ..., window_end_sequence: _Optional[int] = ..., window_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_events: _Optional[int] = ..., observed_count: _Optional[int] = ..., observed_rate: _Optional[float] = ..., expected_rate: _Optional[float] = ..., baseline_events: _Optional[int] = ..., baseline_count: _Optional[int] = ..., p_value: _Optional[float] = ..., alpha: _Optional[float] = ..., example_feedback_ids: _Optional[_Iterable[str]] = ..., fired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetSessionBottlenecksRequest(_message.Message):
    __slots__ = ("since", "until", "intent", "queue", "request_id")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    intent: str
    queue: str
    request_id: str
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., intent: _Optional[str] = ..., queue: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class TimeSpread(_message.Message):
    __slots__ = ("sessions_with_any", "p50_s", "p90_s", "total_s")
    SESSIONS_WITH_ANY_FIELD_NUMBER: _ClassVar[int]
    P50_S_FIELD_NUMBER: _ClassVar[int]
    P90_S_FIELD_NUMBER: _ClassVar[int]
    TOTAL_S_FIELD_NUMBER: _ClassVar[int]
    sessions_with_any: int
    p50_s: float
    p90_s: float
    total_s: float
    def __init__(self, sessions_with_any: _Optional[int] = ..., p50_s: _Optional[float] = ..., p90_s: _Optional[float] = ..., total_s: _Optional[float] = ...) -> None: ...

class Bottleneck(_message.Message):
    __slots__ = ("dimension", "value", "sessions", "wait", "handling", "transfers")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    HANDLING_FIELD_NUMBER: _ClassVar[int]
    TRANSFERS_FIELD_NUMBER: _ClassVar[int]
    dimension: str
    value: str
    sessions: int
    wait: TimeSpread
    handling: TimeSpread
    transfers: int
    def __init__(self, dimension: _Optional[str] = ..., value: _Optional[str] = ..., sessions: _Optional[int] = ..., wait: _Optional[_Union[TimeSpread, _Mapping]] = ..., handling: _Optional[_Union[TimeSpread, _Mapping]] = ..., transfers: _Optional[int] = ...) -> None: ...

class SessionBottlenecksResponse(_message.Message):
    __slots__ = ("since", "until", "sessions", "groups", "request_id")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    sessions: int
    groups: _containers.RepeatedCompositeFieldContainer[Bottleneck]
    request_id: str
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sessions: _Optional[int] = ..., groups: _Optional[_Iterable[_Union[Bottleneck, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...
