"""The review: a card for every glossary term of the lessons, and a practice test that marks fairly."""

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from dlparallel import review
from dlparallel.review import CARDS, QUESTIONS, Card, Mark, Question, Score

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
# Terms the course teaches that every edition's glossaries must have cards for.
REQUIRED_TERMS = ("deep neural network", "backpropagation", "matrix multiplication", "parallel processing", "GPU",
                  "activation checkpointing", "ZeRO", "FSDP", "tensor parallelism", "pipeline parallelism",
                  "micro-batch", "pipeline bubble", "all-gather", "reduce-scatter")


def _notebook(tmp_path: Path, *sources: str, code_after: int | None = None) -> Path:
    cells = [{"cell_type": "markdown", "source": s} for s in sources]
    if code_after is not None:
        cells.insert(code_after, {"cell_type": "code", "source": "x = 1", "outputs": []})
    path = tmp_path / "lesson.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    return path


# --- the cards ---------------------------------------------------------------------------------

@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_every_glossary_term_of_a_lesson_has_a_card_naming_that_lesson(lesson):
    number = int(lesson.name[:2])
    terms = review.glossary_terms(lesson)
    if number <= 7:
        assert terms, f"{lesson.name}: no glossary terms found; does it still have a '## Glossary' list?"
    missing = [term for term in terms if review.find_card(term) is None]
    assert not missing, f"{lesson.name}: no flash card for {missing}; add them to dlparallel.review.CARDS"
    elsewhere = [term for term in terms if number not in review.find_card(term).lessons]
    assert not elsewhere, f"{lesson.name} defines {elsewhere}, but their cards do not name lesson {number:02d}"


def test_the_course_terms_have_cards():
    assert [t for t in REQUIRED_TERMS if review.find_card(t) is None] == []


def test_every_card_has_a_term_a_definition_and_lessons_of_the_course():
    for card in CARDS:
        assert card.term.strip() and len(card.definition) > 20, card
        assert card.lessons == tuple(sorted(set(card.lessons))) and set(card.lessons) <= set(range(1, 8)), card
    assert {n for card in CARDS for n in card.lessons} == set(range(1, 8))


def test_no_two_cards_share_a_term():
    keys = [review.term_key(name) for card in CARDS for name in (card.term, *card.also)]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


def test_a_card_needs_a_term_a_definition_and_a_lesson():
    with pytest.raises(ValueError, match="at least one lesson"):
        Card("Warp", "32 threads", ())


def test_find_card_reads_names_as_glossaries_write_them():
    assert review.find_card("**Streaming multiprocessor (SM)**").term == "Streaming multiprocessor (SM)"
    assert review.find_card("Serial fraction $s$").term == "Serial fraction"
    assert review.find_card("GFLOP/s, TFLOP/s").term == "FLOP/s"
    assert review.find_card("Reduce-scatter / all-gather").term == "Reduce-scatter"
    assert review.find_card("Reduce-scatter / quarks") is None
    assert review.find_card("Thread").lessons == (3, 4)


# --- reading glossaries --------------------------------------------------------------------------

def test_glossary_terms_reads_bold_bullets_and_a_second_bold_term_after_a_semicolon(tmp_path):
    path = _notebook(tmp_path, "# Lesson\n\nA **bold** word outside.\n\n## Glossary\n\n"
                     "- **FLOP**: one operation.\n* **bf16** (bfloat16): a format; **autocast** uses it.\n"
                     "1. **Memory-bound**: slow, a **very** slow case.\n  continued line\n\n## Next\n- **Not**: x")
    assert review.glossary_terms(path) == ["FLOP", "bf16", "autocast", "Memory-bound"]


def test_glossary_terms_reads_tables_and_plain_bullets_up_to_the_next_heading(tmp_path):
    path = _notebook(tmp_path, "### Glossary\n\n| Term | Meaning |\n|:---|---|\n| **Warp** | 32 threads |\n"
                     "| Grid | blocks |\n- Shard: part of a batch\n- a sentence without a colon\n"
                     "#### A busy kitchen\n- **Task parallelism**: an analogy after the glossary")
    assert review.glossary_terms(path) == ["Warp", "Grid", "Shard"]


def test_glossary_terms_follow_the_section_across_markdown_cells_up_to_a_code_cell(tmp_path):
    path = _notebook(tmp_path, "## Glossary", "- **Epoch**: a pass.", "- **Bucket**: gradients.", code_after=3)
    assert review.glossary_terms(path) == ["Epoch", "Bucket"]
    assert review.glossary_terms(_notebook(tmp_path, "## Summary\n- **Epoch**: a pass.")) == []


# --- the questions -----------------------------------------------------------------------------

def test_the_test_covers_every_lesson_with_twenty_questions_or_more():
    assert len(QUESTIONS) >= 20
    per_lesson = {n: sum(q.lesson == n for q in QUESTIONS) for n in range(1, 8)}
    assert min(per_lesson.values()) >= 2, per_lesson
    assert {q.kind for q in QUESTIONS} == {"choice", "number"}
    assert len({q.prompt for q in QUESTIONS}) == len(QUESTIONS)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: f"{q.lesson:02d}-{q.topic}")
def test_every_question_has_exactly_one_right_answer_and_an_explanation(question):
    assert len(question.explanation) > 40 and question.prompt.endswith("?")
    if question.choices:
        verdicts = [question.mark(i).outcome for i in range(len(question.choices))]
        assert verdicts.count("right") == 1 and verdicts.count("wrong") == len(verdicts) - 1
        assert question.mark(question.right_answer).right
    else:
        assert question.mark(question.answer).right
        assert question.mark(question.right_answer).right, question.right_answer
        for off in (1.1, 0.9, -1):
            assert question.mark(question.answer * off + (off < 0)).outcome == "wrong"


def test_a_number_is_marked_right_wrong_or_blank():
    q = Question(6, "Budget", "Milliseconds left?", 28, "The frame budget is 40 ms, minus 12.", unit="ms",
                 rtol=0.01)
    assert [q.mark(a).outcome for a in (28, "28", " 28.1 ms", "2.8e1", 28.5, "30", None, ..., "", "soon", True)] \
        == ["right"] * 4 + ["wrong"] * 2 + ["blank"] * 5
    assert q.mark("30").message == ("Not quite: 30 is not right; the answer is 28 ms. "
                                    "The frame budget is 40 ms, minus 12.")
    assert q.mark("soon").message == "Not answered yet: 'soon' is not a number."
    share = Question(5, "Efficiency", "What share?", 0.8, "6,400 / 8,000.")
    assert share.mark("80%").right and share.mark("8,000e-4").right and not share.mark("0.7").right


def test_a_choice_is_marked_by_index_or_text_and_the_wrong_one_gets_the_explanation():
    q = Question(4, "Timing", "What is timed?", 1, "The launch is asynchronous.", choices=("run", "launch"))
    assert q.mark(1).right and q.mark("launch").right
    assert q.mark(0).message == "Not quite: the answer is “launch”. The launch is asynchronous."
    assert q.mark(None).message == "Not answered yet: pick one choice."
    assert q.mark(5).outcome == q.mark("walk").outcome == q.mark(True).outcome == "blank"


def test_a_question_needs_a_valid_right_choice():
    with pytest.raises(ValueError, match="answer must index one of the 2 choices"):
        Question(1, "x", "y?", 2, "z", choices=("a", "b"))
    with pytest.raises(ValueError, match="two choices are the same"):
        Question(1, "x", "y?", 0, "z", choices=("a", "a"))


def test_the_score_keeps_each_questions_latest_mark():
    score = Score(QUESTIONS[:3])
    score.record(0, Mark("wrong", ""))
    score.record(0, Mark("right", ""))
    score.record(1, Mark("wrong", ""))
    assert (score.right, score.answered) == (1, 2)
    score.record(1, Mark("blank", ""))
    assert str(score) == "Score: 1 right of 3 (1 answered)"
    assert score.by_lesson() == {1: (1, 3)}


# --- the widgets -------------------------------------------------------------------------------

def test_flash_cards_flip_to_the_definition_and_move_round_the_deck():
    deck = review.flash_cards(lesson=7, seed=0)
    assert sorted(c.term for c in deck.cards) == sorted(c.term for c in CARDS if 7 in c.lessons)
    assert [c.term for c in deck.cards] == [c.term for c in review.flash_cards(lesson=7, seed=0).cards]
    assert [c.term for c in deck.cards] != [c.term for c in review.flash_cards(lesson=7, seed=1).cards]
    first = deck.cards[0]
    assert first.term in deck.face.value and "dlp-definition" not in deck.face.value
    deck.flip()
    assert "dlp-definition" in deck.face.value and "From lesson 07." in deck.face.value
    deck.previous()
    assert deck.cards[-1].term in deck.face.value and not deck.flipped
    assert deck.counter.value == f"Card {len(deck.cards)} of {len(deck.cards)}"
    deck.next()
    assert deck.position == 0


def test_the_widgets_show_a_fixed_text_where_they_cannot_render():
    deck, test = review.flash_cards(), review.practice_test()
    for shown, text in ((deck, f"Flash cards: {len(CARDS)} terms"), (test, f"Practice test: {len(QUESTIONS)} ")):
        bundle = shown._repr_mimebundle_()
        assert bundle["text/plain"].startswith(text) and "application/vnd.jupyter.widget-view+json" in bundle
    with pytest.raises(ValueError, match="lessons with cards"):
        review.flash_cards(lesson=9)
    with pytest.raises(ValueError, match="no questions"):
        review.practice_test([])


def _button(test, name):
    return next(w for w in test.widget.children[-1].children + (test.widget.children[4],)
                if getattr(w, "description", "") == name)


def test_checking_answers_marks_them_on_the_page_and_keeps_a_running_score():
    test = review.practice_test()
    number = next(i for i, q in enumerate(QUESTIONS) if q.kind == "number")
    choice = next(i for i, q in enumerate(QUESTIONS) if q.kind == "choice")
    test.go(number)
    assert test.number.layout.display is None and test.choice.layout.display == "none"
    test.field.value = str(QUESTIONS[number].answer)
    _button(test, "Check").click()
    assert "dlp-right" in test.feedback.value and "Score: 1 right" in test.tally.value
    test.go(choice)
    assert test.choice.layout.display is None and test.feedback.value == ""
    test.field.value = (QUESTIONS[choice].answer + 1) % len(QUESTIONS[choice].choices)
    _button(test, "Check").click()
    assert "dlp-wrong" in test.feedback.value and "Not quite" in test.feedback.value
    assert QUESTIONS[choice].explanation[:30] in test.feedback.value.replace("&#x27;", "'")
    assert f"Score: 1 right of {len(QUESTIONS)} (2 answered)" in test.tally.value
    test.field.value = None
    assert test.check().outcome == "blank"
    assert "Not answered yet" in test.feedback.value and "(1 answered)" in test.tally.value


def test_moving_between_questions_keeps_the_answers_and_their_marks():
    test = review.practice_test(QUESTIONS[:2])
    test.field.value = "12"
    test.check()
    _button(test, "Next").click()
    assert test.position == 1 and test.counter.value == "Question 2 of 2" and test.field.value == ""
    test.field.value = "half-typed"
    _button(test, "Previous").click()
    assert test.field.value == "12" and "Not quite: 12 is not right" in test.feedback.value
    test.previous()
    assert test.position == 1 and test.field.value == "half-typed" and test.feedback.value == ""


def test_plot_score_draws_questions_and_right_answers_per_lesson():
    score = Score(QUESTIONS)
    score.record(0, QUESTIONS[0].mark(QUESTIONS[0].answer))
    fig = review.plot_score(score)
    totals, rights = fig.axes[0].containers
    assert [bar.get_height() for bar in totals] == [n for _, n in score.by_lesson().values()]
    assert [bar.get_height() for bar in rights] == [1] + [0] * 6
    assert math.isclose(sum(b.get_height() for b in totals), len(QUESTIONS))
    plt.close(fig)


def test_the_glossary_lists_every_card_a_to_z():
    terms = [line.split("**")[1] for line in review.glossary().splitlines()]
    assert len(terms) == len(CARDS) and terms == sorted(terms, key=str.lower)
    assert "- **All-reduce** (lessons 05, 07): " in review.glossary()
