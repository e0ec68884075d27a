"""Training input files: every format, and every malformed file failing with its file, line and problem."""

from __future__ import annotations

import pytest
from infogap_server.training.data import DataError, check_classes, check_split, read_feedback, read_labelled


def write(tmp_path, name, content, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return path


def test_csv_tsv_and_jsonl_read_the_same_examples(tmp_path):
    csv_path = write(tmp_path, "a.csv",
                     'text,label\n"hello, where is my parcel",track_order\ncancel it,cancel_order\n')
    tsv_path = write(tmp_path, "a.tsv",
                     'text\tlabel\n"hello, where is my parcel\ttrack_order\ncancel it\tcancel_order\n')
    jsonl_path = write(tmp_path, "a.jsonl",
                       '{"text": "hello, where is my parcel", "label": "track_order"}\n\n'
                       '{"text": "cancel it", "label": "cancel_order"}\n')
    assert [(e.text, e.intent) for e in read_labelled(csv_path)] == [
        ("hello, where is my parcel", "track_order"), ("cancel it", "cancel_order")]
    assert read_labelled(tsv_path)[0].text == '"hello, where is my parcel'  # TSV: no quoting
    assert [e.intent for e in read_labelled(jsonl_path)] == ["track_order", "cancel_order"]


def test_custom_columns_and_sentiment(tmp_path):
    path = write(tmp_path, "b.csv", "utterance,intent,tone\nthanks a lot,review,Positive\n")
    [example] = read_labelled(path, text_column="utterance", label_column="intent", sentiment_column="tone")
    assert (example.text, example.intent, example.sentiment) == ("thanks a lot", "review", "positive")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("m.csv", "text,intent\nhi,greet\n", "m.csv:1: missing column(s) label"),
        ("e.csv", "text,label\nhi,greet\n   ,greet\n", "e.csv:3: empty text"),
        ("l.tsv", "text\tlabel\nhi\tgreet\nbye\t\n", "l.tsv:3: empty label"),
        ("j.jsonl", '{"text": "hi", "label": "a"}\n{"text": "x"\n', "j.jsonl:2: not a JSON object"),
        ("k.jsonl", '{"text": "hi", "label": "a"}\n{"text": "x"}\n', "k.jsonl:2: missing key 'label'"),
        ("x.xml", "<a/>", "unknown format '.xml'"),
        ("h.csv", "text,label\n", "h.csv: no examples"),
    ],
)
def test_malformed_files_fail_with_file_line_and_problem(tmp_path, name, content, message):
    path = write(tmp_path, name, content)
    with pytest.raises(DataError) as caught:
        read_labelled(path)
    assert message in str(caught.value)


def test_unreadable_encoding_names_the_line(tmp_path):
    path = write(tmp_path, "enc.csv", b"text,label\nhi,greet\ncaf\xe9 au lait,order\n")
    with pytest.raises(DataError, match=r"enc.csv:3: not valid UTF-8"):
        read_labelled(path)


def test_bad_sentiment_and_single_class(tmp_path):
    path = write(tmp_path, "s.csv", "text,label,sentiment\nhi,a,happy\n")
    with pytest.raises(DataError, match=r"s.csv:2: sentiment 'happy' is not one of"):
        read_labelled(path, sentiment_column="sentiment")
    one = write(tmp_path, "one.csv", "text,label\nhi,a\nho,a\nwhat,oos\n")
    with pytest.raises(DataError, match=r"one.csv: only 1 class"):
        check_classes(one, read_labelled(one), oos_label="oos")


def test_validation_and_holdout_problems_fail_before_training(tmp_path):
    train_path = write(tmp_path, "train.csv", "text,label\nhi,a\nho,a\nhey,b\nyo,b\nfoo,oos\n")
    train = read_labelled(train_path)
    only_oos = write(tmp_path, "valid.csv", "text,label\nbar,oos\n")
    with pytest.raises(DataError, match=r"valid.csv: no in-scope examples"):
        check_split(train_path, train, only_oos, read_labelled(only_oos), "oos")
    unknown = write(tmp_path, "valid2.csv", "text,label\nbar,a\nbaz,c\n")
    with pytest.raises(DataError, match=r"valid2.csv: label\(s\) not in the training data: c"):
        check_split(train_path, train, unknown, read_labelled(unknown), "oos")
    check_split(train_path, train, None, None, "oos")  # two of each intent: one can be held out
    single_path = write(tmp_path, "single.csv", "text,label\nhi,a\nho,a\nhey,b\n")
    with pytest.raises(DataError, match=r"single.csv: intent\(s\) with one example \(b\)"):
        check_split(single_path, read_labelled(single_path), None, None, "oos")


def test_feedback_files_are_read_and_checked(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"text": " late again ", "sentiment": "Negative", "aspects": ["delivery_delay"]}\n\n'
                    '{"text": "lovely", "sentiment": "positive"}\n', encoding="utf-8")
    examples = read_feedback(good)
    assert [(e.text, e.sentiment, e.aspects) for e in examples] == [
        ("late again", "negative", ("delivery_delay",)), ("lovely", "positive", ())]
    for content, message in (
        ('{"text": "x", "sentiment": "meh"}', "good.jsonl:2: sentiment 'meh'"),
        ('{"text": "x", "sentiment": "neutral", "aspects": ["parking"]}', "good.jsonl:2: aspects"),
        ('{"text": "", "sentiment": "neutral"}', "good.jsonl:2: empty text"),
        ("not json", "good.jsonl:2: not JSON"),
        ('["a list"]', "good.jsonl:2: not a JSON object"),
    ):
        good.write_text('{"text": "fine", "sentiment": "neutral"}\n' + content + "\n", encoding="utf-8")
        with pytest.raises(DataError, match=message.replace("(", r"\(")):
            read_feedback(good)
    good.write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no feedback texts"):
        read_feedback(good)


def test_the_default_corpus_and_its_hand_written_sets_are_apart_and_cover_every_intent():
    """Training, development and test sets of the default model: the same intents, enough of each, and no
    message in two of them (case and surrounding spaces aside)."""
    from infogap_server.training.build import DEFAULT_DEV, DEFAULT_TEST, DEFAULT_TRAIN, read_corpus

    sets = {path.name: read_corpus(path) for path in (DEFAULT_TRAIN, DEFAULT_DEV, DEFAULT_TEST)}
    intents = {name: {e.intent for e in examples} for name, examples in sets.items()}
    assert len(intents[DEFAULT_TRAIN.name] - {"out_of_scope"}) == 32
    assert intents[DEFAULT_DEV.name] == intents[DEFAULT_TEST.name] == intents[DEFAULT_TRAIN.name]
    for intent in {"return_item", "exchange_item", "damaged_item", "wrong_item", "missing_item"}:
        assert sum(e.intent == intent for e in sets[DEFAULT_TRAIN.name]) >= 100
        assert sum(e.intent == intent for e in sets[DEFAULT_TEST.name]) >= 8
    texts = {name: [e.text.strip().lower() for e in examples] for name, examples in sets.items()}
    for name, items in texts.items():
        assert len(items) == len(set(items)), f"{name} repeats a message"
    names = list(texts)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            assert not set(texts[names[a]]) & set(texts[names[b]]), f"{names[a]} and {names[b]} share messages"
