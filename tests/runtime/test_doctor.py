"""Behavioural tests for the ELIZA/DOCTOR engine (Weizenbaum, CACM 1966)."""

from __future__ import annotations

import time
from importlib import resources

import pytest

from eliza.runtime.doctor import Doctor, Script, load_script

# The sample conversation printed in the 1966 paper, with the replies this
# engine gives (the paper's, in sentence case).  Order matters: reassembly
# rules cycle and the memory fills up as the conversation goes on.
TRANSCRIPT = [
    ("Men are all alike.", "In what way?"),
    ("They're always bugging us about something or other.", "Can you think of a specific example?"),
    ("Well, my boyfriend made me come here.", "Your boyfriend made you come here."),
    ("He says I'm depressed much of the time.", "I am sorry to hear you are depressed."),
    ("It's true. I am unhappy.", "Do you think coming here will help you not to be unhappy?"),
    (
        "I need some help, that much seems certain.",
        "What would it mean to you if you got some help?",
    ),
    ("Perhaps I could learn to get along with my mother.", "Tell me more about your family."),
    ("My mother takes care of me.", "Who else in your family takes care of you?"),
    ("My father.", "Your father."),
    ("You are like my father in some ways.", "What resemblance do you see?"),
    (
        "You are not very aggressive but I think you don't want me to notice that.",
        "What makes you think I am not very aggressive?",
    ),
    ("You don't argue with me.", "Why do you think I don't argue with you?"),
    ("You are afraid of me.", "Does it please you to believe I am afraid of you?"),
    ("My father is afraid of everybody.", "What else comes to mind when you think of your father?"),
]

NONE_REPLIES = [
    "I am not sure I understand you fully.",
    "Please go on.",
    "What does that suggest to you?",
    "Do you feel strongly about discussing such things?",
]

# A tiny script for testing the engine apart from DOCTOR's content.
MINI = """
# comments and blank lines are ignored
initial Hi.
final Bye.
quit bye
pre cant = can't
reflect i = you
reflect you = I
reflect my = your
reflect me = you
tag pet cat dog
key low 1
  decomp 0
    reasm Low.
key high 5
  decomp 0
    reasm High.
key my
  decomp 0 my /pet 0
    reasm Your 3 again?
    reasm Your 3 4.
  decomp 0
    reasm newkey
key two
  decomp 0 two 2
    reasm Exactly 3.
  decomp 0
    reasm =low
key pick
  decomp 0 (*red blue) 0
    reasm Colour 2.
key loop1 =loop2
key loop2 =loop1
memory my
  decomp 0 my /pet 0
    reasm Back to your 3 4.
none
  reasm None one.
  reasm None two.
"""


@pytest.fixture
def doctor() -> Doctor:
    return Doctor()


@pytest.fixture
def mini() -> Doctor:
    return Doctor(load_script(MINI))


# ------------------------------------------------------------ the paper


def test_transcript_from_the_paper(doctor: Doctor) -> None:
    for line, expected in TRANSCRIPT:
        assert doctor.respond(line) == expected, line
    # "Bullies." has no keyword: the reply comes from the memory of the
    # first MY sentence, as in the paper's last exchange.
    recalled = doctor.respond("Bullies.")
    assert "your boyfriend made you come here" in recalled


def test_greeting_and_goodbye(doctor: Doctor) -> None:
    assert doctor.initial() == "How do you do. Please tell me your problem."
    assert doctor.final()
    assert "  " not in doctor.initial() + doctor.final()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Men are all alike.", "In what way?"),
        ("They're always bugging us about something or other.", "Can you think of a specific"),
        ("Well, my boyfriend made me come here.", "Your boyfriend made you come here"),
        ("He says I'm depressed much of the time.", "I am sorry to hear you are depressed"),
        ("I need some help, that much seems certain.", "if you got some help"),
        ("Perhaps I could learn to get along with my mother.", "Tell me more about your family"),
    ],
)
def test_classic_lines_on_a_fresh_doctor(doctor: Doctor, line: str, expected: str) -> None:
    assert expected in doctor.respond(line)


def test_is_deterministic() -> None:
    lines = [line for line, _ in TRANSCRIPT] + ["Bullies.", "xyzzy", "I feel odd", "hmm"]
    first, second = Doctor(), Doctor()
    assert [first.respond(x) for x in lines] == [second.respond(x) for x in lines]


def test_instances_do_not_share_state() -> None:
    a, b = Doctor(), Doctor()
    assert a.respond("I am sad") == "I am sorry to hear you are sad."
    assert a.respond("I am sad") != "I am sorry to hear you are sad."
    assert b.respond("I am sad") == "I am sorry to hear you are sad."


# ------------------------------------------------------------ keywords


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Sorry", "Please don't apologize."),
        ("I remember my first bike", "Do you often think of your first bike?"),
        ("Do you remember the war?", "Did you think I would forget the war?"),
        ("If only I were rich", "Do you think it's likely that only you were rich?"),
        ("I dreamed about flying", "Really, about flying?"),
        ("I had a dream", "What does that dream suggest to you?"),
        ("Perhaps", "You don't seem quite certain."),
        ("Maybe", "You don't seem quite certain."),
        ("My name is Bob", "I am not interested in names."),
        ("Hello", "How do you do. Please state your problem."),
        ("Je parle francais", "I am sorry, I speak only English."),
        ("Computers scare me", "Do computers worry you?"),
        ("You are just a machine", "Do computers worry you?"),
        ("Am I crazy?", "Do you believe you are crazy?"),
        ("Are you real?", "Why are you interested in whether I am real or not?"),
        ("They are green", "Did you think they might not be green?"),
        ("Your eyes look sad", "Why are you concerned over my eyes look sad?"),
        ("Were you ever in love?", "Would you like to believe I was ever in love?"),
        ("I was lonely", "Were you really?"),
        ("I want a new car", "What would it mean to you if you got a new car?"),
        ("I am glad", "How have I helped you to be glad?"),
        ("I believe I am ill", "Do you really think so?"),
        ("I am tired", "Is it because you are tired that you came to me?"),
        ("I can't sleep", "How do you know you can't sleep?"),
        ("I cant sleep", "How do you know you can't sleep?"),
        ("I dont know", "Don't you really know?"),
        ("I feel strange", "Tell me more about such feelings."),
        ("I hate you", "Perhaps in your fantasy we hate each other."),
        ("I went home", "You say you went home?"),
        ("You remind me of someone", "In what way?"),
        ("You hate me", "Why do you think I hate you?"),
        ("You bore", "We were discussing you - not me."),
        ("Yes", "You seem quite positive."),
        ("Certainly", "You seem quite positive."),
        ("No", "Are you saying 'no' just to be negative?"),
        ("My car is broken", "Your car is broken."),
        ("Can you help me?", "You believe I can help you, don't you?"),
        ("Can I leave?", "Whether or not you can leave depends on you more than on me."),
        ("What is this?", "Why do you ask?"),
        ("How does it work?", "Why do you ask?"),
        ("When will it end?", "Why do you ask?"),
        ("Because it hurts", "Is that the real reason?"),
        ("Why don't you listen to me?", "Do you believe I don't listen to you?"),
        ("Why can't I stop?", "Do you think you should be able to stop?"),
        ("Why is the sky blue?", "Why do you ask?"),
        ("Everybody laughs at me", "Really, everybody?"),
        ("Nobody cares", "Really, nobody?"),
        ("No one listens", "Really, no-one?"),
        ("It always rains", "Can you think of a specific example?"),
        ("He is like a brick", "In what way?"),
        ("We are the same", "In what way?"),
    ],
)
def test_keyword_rules(doctor: Doctor, line: str, expected: str) -> None:
    assert doctor.respond(line) == expected


def test_family_tag_and_aliases(doctor: Doctor) -> None:
    assert doctor.respond("My mom is strict") == "Tell me more about your family."
    # "mom" matches as MOTHER (a /FAMILY word) but is echoed as typed.
    assert doctor.respond("My dad hit me") == "Who else in your family hit you?"
    assert doctor.respond("My sister.") == "Your sister."


def test_belief_tag_sends_i_you_sentences_to_the_you_rules(doctor: Doctor) -> None:
    assert doctor.respond("I think you hate me") == "Why do you think I hate you?"
    assert doctor.respond("I wish you would trust me") == (
        "You like to think I would trust you - don't you?"
    )


def test_like_without_a_verb_is_passed_on_with_newkey(doctor: Doctor) -> None:
    # LIKE (rank 10) only fires on "... is like ..."; otherwise NEWKEY hands over to I.
    assert doctor.respond("I like you") == "Perhaps in your fantasy we like each other."
    assert doctor.respond("I like apples") == "You say you like apples?"


def test_keyword_rank_beats_sentence_order(doctor: Doctor) -> None:
    # I (0) comes first, but MY (2) outranks it; COMPUTER (50) outranks MY.
    assert doctor.respond("I think my computer hates me") == "Do computers worry you?"
    assert doctor.respond("I lost my keys") == "Your keys."


def test_equal_ranks_keep_sentence_order(doctor: Doctor) -> None:
    # MY and EVERYBODY are both rank 2: the one said first wins.
    assert doctor.respond("My boss hates everybody") == "Your boss hates everybody."
    assert doctor.respond("Everybody hates my boss") == "Really, everybody?"


def test_first_clause_with_a_keyword_is_used(doctor: Doctor) -> None:
    # "Well" has no keyword and is dropped; the third clause is never read.
    assert doctor.respond("Well, I am sad, you know.") == "I am sorry to hear you are sad."
    # "but" separates clauses like punctuation does.
    assert doctor.respond("Nothing much but my car broke") == "Your car broke."


# ------------------------------------------------------------ reflection


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("My boss loves me", "Your boss loves you."),
        ("My friend says I am lazy", "Your friend says you are lazy."),
        ("My friend says you are lazy", "Your friend says I am lazy."),
        ("My boss talks to you", "Your boss talks to me."),
        ("My boss hates you", "Your boss hates me."),
        ("My friends were kind", "Your friends were kind."),
        ("My teacher thinks I was wrong", "Your teacher thinks you were wrong."),
        ("My cat hates myself", "Your cat hates yourself."),
        ("My story is mine", "Your story is yours."),
        ("My boss wants you to leave", "Your boss wants me to leave."),
    ],
)
def test_reflection_is_applied_once(line: str, expected: str) -> None:
    assert Doctor().respond(line) == expected


def test_proper_nouns_keep_their_case(doctor: Doctor) -> None:
    assert doctor.respond("I went to Paris with John") == "You say you went to Paris with John?"
    assert doctor.respond("MY BOSS HATES ME") == "Your boss hates you."


# ------------------------------------------------------------ cycling and memory


def test_reassembly_rules_cycle_in_order(doctor: Doctor) -> None:
    replies = [doctor.respond("Sorry") for _ in range(5)]
    assert replies == [
        "Please don't apologize.",
        "Apologies are not necessary.",
        "What feelings do you have when you apologize?",
        "I've told you that apologies are not required.",
        "Please don't apologize.",
    ]


def test_equivalence_shares_the_target_rotation(doctor: Doctor) -> None:
    # ALIKE, SAME and "... is like ..." all use DIT's rules, so they advance one cycle.
    assert doctor.respond("We are alike") == "In what way?"
    assert doctor.respond("We are the same") == "What resemblance do you see?"
    assert doctor.respond("She is like him") == "What does that similarity suggest to you?"


def test_none_replies_cycle_when_memory_is_empty(doctor: Doctor) -> None:
    replies = [doctor.respond(text) for text in ["xyzzy", "plugh", "hmm", "ok then", "right"]]
    assert replies == [*NONE_REPLIES, NONE_REPLIES[0]]


def test_memory_is_recalled_first_in_first_out(doctor: Doctor) -> None:
    doctor.respond("My car is broken")
    doctor.respond("My job is dull")
    first = doctor.respond("xyzzy")
    second = doctor.respond("xyzzy")
    assert "your car is broken" in first
    assert "your job is dull" in second
    assert first.endswith(("?", "."))
    assert first[0].isupper()
    # Memory used up: back to the NONE rules.
    assert doctor.respond("xyzzy") == NONE_REPLIES[0]


def test_memory_choice_depends_on_the_last_word() -> None:
    # Weizenbaum hashed the last word to pick a memory rule; ours is stable too.
    picks = set()
    for word in ["car", "job", "boss", "dog", "house", "life", "wife", "tea"]:
        doctor = Doctor()
        doctor.respond(f"My car is {word}")
        picks.add(doctor.respond("xyzzy").replace(f"your car is {word}", "X"))
    assert len(picks) > 1


def test_memory_is_only_stored_when_my_is_the_top_keyword(doctor: Doctor) -> None:
    assert doctor.respond("My computer is slow") == "Do computers worry you?"
    assert doctor.respond("xyzzy") == NONE_REPLIES[0]


def test_empty_input_gets_a_none_reply_without_using_memory(doctor: Doctor) -> None:
    doctor.respond("My car is broken")
    assert doctor.respond("") == NONE_REPLIES[0]
    assert "your car is broken" in doctor.respond("xyzzy")


# ------------------------------------------------------------ quitting


@pytest.mark.parametrize("line", ["bye", "Goodbye!", "Ok, bye.", "good bye", "QUIT", "exit"])
def test_is_quit(doctor: Doctor, line: str) -> None:
    assert doctor.is_quit(line)


@pytest.mark.parametrize("line", ["", "I want to quit my job", "Hello", "byebye"])
def test_is_not_quit(doctor: Doctor, line: str) -> None:
    assert not doctor.is_quit(line)


# ------------------------------------------------------------ robustness


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "...",
        "?!?!",
        ",,,",
        "\x00\n\t",
        "😀 😀",
        "Ich bin müde",
        "Я устал",
        "私は悲しい",
        "'''",
        "- - -",
        "it\u2019s my fault",
        "my \ud800 dog\ud800",
        "my caf\u00e9 \u00c9COLE",
        "MY",
        "my",
        "0 1 2 3",
        "$ = / (* ) =what newkey",
        "but but but",
        "I I I I you you me me",
    ],
)
def test_odd_input_gets_a_tidy_reply(doctor: Doctor, text: str) -> None:
    reply = doctor.respond(text)
    assert reply
    assert reply[0].isupper()
    assert reply[-1] in ".?!"
    assert "  " not in reply
    for gap in (" ,", " .", " ?"):
        assert gap not in reply


def test_punctuation_only_is_a_none_reply(doctor: Doctor) -> None:
    assert doctor.respond("?!") == NONE_REPLIES[0]


def test_curly_apostrophes_are_understood(doctor: Doctor) -> None:
    assert doctor.respond("I can\u2019t sleep") == "How do you know you can't sleep?"


@pytest.mark.parametrize(
    "text",
    [
        "word " * 100_000,
        "I " * 20_000,
        "I " + "think you " * 5_000 + "me",
        "my " * 5_000,
        "x" * 200_000,
        ", " * 50_000,
    ],
)
def test_very_long_input_is_fast(doctor: Doctor, text: str) -> None:
    start = time.perf_counter()
    reply = doctor.respond(text)
    assert reply
    assert time.perf_counter() - start < 2.0


# ------------------------------------------------------------ the engine on a tiny script


def test_script_is_loaded_and_typed() -> None:
    script = load_script(MINI)
    assert isinstance(script, Script)
    assert Doctor(script).initial() == "Hi."
    assert Doctor(script).final() == "Bye."


def test_mini_rank_ordering(mini: Doctor) -> None:
    assert mini.respond("low high") == "High."
    assert mini.respond("high low") == "High."


def test_mini_tag_cycling_and_newkey(mini: Doctor) -> None:
    assert mini.respond("my cat bites") == "Your cat again?"
    assert mini.respond("my dog bites") == "Your dog bites."
    assert mini.respond("my dog bites") == "Your dog again?"
    # MY without a pet word says NEWKEY; LOW is next on the stack.
    assert mini.respond("my low") == "Low."


def test_mini_exact_count_and_redirect(mini: Doctor) -> None:
    assert mini.respond("two a b") == "Exactly a b."
    # Three words after TWO do not fit "2", so the catch-all jumps to LOW.
    assert mini.respond("two a b c") == "Low."


def test_mini_alternatives(mini: Doctor) -> None:
    assert mini.respond("pick the blue one") == "Colour blue."


def test_mini_pre_substitution_and_reflection(mini: Doctor) -> None:
    assert mini.respond("my cat cant see me") == "Your cat again?"
    assert mini.respond("my cat cant see me") == "Your cat can't see you."


def test_mini_circular_redirects_fall_back(mini: Doctor) -> None:
    assert mini.respond("loop1") == "None one."


def test_mini_memory_and_none(mini: Doctor) -> None:
    assert mini.respond("nothing") == "None one."
    mini.respond("my cat bites")
    assert mini.respond("nothing") == "Back to your cat bites."
    assert mini.respond("nothing") == "None two."


def test_mini_quit(mini: Doctor) -> None:
    assert mini.is_quit("Bye!")
    assert not mini.is_quit("goodbye")


# ------------------------------------------------------------ malformed scripts


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("initial Hi\nfinal Bye\nfrobnicate x\n", 3, "unknown directive"),
        ("initial Hi\nfinal Bye\nreasm Hello\n", 3, "must follow"),
        ("initial Hi\nfinal Bye\ndecomp 0\n", 3, "must follow"),
        ("initial Hi\nfinal Bye\nkey a b c\n", 3, "key"),
        ("initial Hi\nfinal Bye\nkey a high\n", 3, "not an integer"),
        ("initial Hi\nfinal Bye\nkey a\nkey a\n", 4, "already defined"),
        ("initial Hi\nfinal Bye\nkey a\n  decomp 0 (*x y\n    reasm Hi\n", 4, "unbalanced"),
        ("initial Hi\nfinal Bye\nkey a\n  decomp 0 (* )\n    reasm Hi\n", 4, "empty"),
        ("initial Hi\nfinal Bye\nkey a\n  decomp 0 /nope 0\n    reasm Hi\n", 4, "unknown tag"),
        ("initial Hi\nfinal Bye\nkey a\n  decomp 0 a 0\n    reasm Hi 4\n", 5, "part 4"),
        ("initial Hi\nfinal Bye\nkey a\n  decomp 0\n    reasm =nowhere\n", 5, "unknown keyword"),
        ("initial Hi\nfinal Bye\nkey a =nowhere\n", 3, "unknown keyword"),
        ("initial Hi\nfinal Bye\nkey a\nnone\n  reasm x\n", 3, "no 'decomp'"),
        ("initial Hi\nfinal Bye\nkey a\n  decomp 0\nnone\n  reasm x\n", 4, "no 'reasm'"),
        ("initial Hi\nfinal Bye\nreflect i = you are\n", 3, "same number"),
        ("initial Hi\nfinal Bye\nreflect $ you = $ me\n", 3, "'$'"),
        ("initial Hi\nfinal Bye\npre dont\n", 3, "WORDS = WORDS"),
        ("initial Hi\nfinal Bye\nalias a b = c\n", 3, "alias"),
        ("initial Hi\nfinal Bye\ntag family\n", 3, "tag"),
        ("initial Hi\nfinal Bye\nnone extra\n", 3, "no arguments"),
        ("initial Hi\nfinal Bye\nnone\n  reasm Part 1\n", 4, "none"),
        (
            "initial Hi\nfinal Bye\nmemory ghost\n  decomp 0\n    reasm x\nnone\n  reasm x\n",
            3,
            "ghost",
        ),
        ("initial Hi\ninitial Again\n", 2, "initial"),
        ("final Bye\nnone\n  reasm x\n", 3, "initial"),
        ("initial Hi\nfinal Bye\n", 2, "none"),
        ("", 1, "initial"),
    ],
)
def test_malformed_scripts_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ValueError, match=f"^line {line}: ") as info:
        load_script(text)
    assert message in str(info.value)


def test_memory_rules_must_be_plain_text() -> None:
    text = "initial Hi\nfinal Bye\nkey a\n decomp 0\n  reasm x\nmemory a\n decomp 0\n  reasm =a\n"
    with pytest.raises(ValueError, match=r"^line 7: memory"):
        load_script(text + "none\n reasm x\n")


def test_bundled_script_file_has_the_classic_keywords() -> None:
    text = resources.files("eliza.runtime.doctor").joinpath("doctor.txt").read_text("utf-8")
    script = load_script(text)
    classic = """sorry remember if dreamt dream perhaps maybe name hello computer machine
        am are your was i you yes no my can what how when why because everyone
        everybody nobody always like alike same certainly"""
    assert set(classic.split()) <= set(script.keywords)
    assert script.memory_keyword == "my"
    assert script.none == tuple(NONE_REPLIES)
