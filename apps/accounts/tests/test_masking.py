"""Value-based masking: every form of every secret becomes ***, also across stream chunks."""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.accounts.masking import MASK, StreamMasker, mask, mask_data

SSH_KEY = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDx3m1oLq0Zp9vTqv6dJvYkCq7cKJ2R0mT8Yl8uTAAAAJiJgH1QiYB9UA
-----END OPENSSH PRIVATE KEY-----"""


def test_plain_occurrences_are_masked():
    assert mask("user=deploy pass=hunter2-xyz end", ["hunter2-xyz"]) == "user=deploy pass=*** end"
    assert mask("twice hunter2-xyz hunter2-xyz", ["hunter2-xyz"]) == f"twice {MASK} {MASK}"


def test_secret_inside_a_url_plain_and_url_encoded():
    secret = "p@ss/w:rd&x=1"
    url = f"https://bob:{quote(secret, safe='')}@git.example/repo.git?t={quote_plus(secret)}"
    masked = mask(url, [secret])
    assert masked == "https://bob:***@git.example/repo.git?t=***"
    assert mask(f"https://bob:{secret}@host/", [secret]) == "https://bob:***@host/"


def test_base64_forms_including_inside_a_basic_auth_header():
    secret = "s3cr3t-token-value"
    assert mask(base64.b64encode(secret.encode()).decode(), [secret]) == MASK
    header = "Authorization: Basic " + base64.b64encode(f"admin:{secret}".encode()).decode()
    masked = mask(header, [secret])
    assert masked.startswith("Authorization: Basic ")
    # Whatever stays visible cannot be decoded back to the secret.
    visible = masked.removeprefix("Authorization: Basic ")
    assert "***" in visible
    assert base64.b64encode(f"admin:{secret}".encode()).decode() not in masked
    for alignment in range(3):
        blob = base64.b64encode(b"x" * alignment + secret.encode() + b"tail").decode()
        masked_blob = mask(blob, [secret])
        assert MASK in masked_blob
        # All but at most two characters at each edge of the secret's encoding are gone.
        hidden = len(blob) - len(masked_blob.replace(MASK, ""))
        assert hidden >= len(secret) * 4 // 3 - 2


def test_each_line_of_a_multi_line_secret_is_masked():
    log = "loading key\n" + "\n".join("  " + line for line in SSH_KEY.splitlines()[1:3]) + "\ndone"
    masked = mask(log, [SSH_KEY])
    for line in SSH_KEY.splitlines()[1:3]:
        assert line not in masked
    assert masked.splitlines()[0] == "loading key"
    assert masked.splitlines()[-1] == "done"
    assert mask(SSH_KEY, [SSH_KEY]) == MASK


def test_overlapping_secrets_leave_no_part_visible():
    text = "xx abcdefghij yy"
    assert mask(text, ["abcdef", "defghij"]) == "xx *** yy"
    assert mask("zzsecretsecretzz", ["secretsecret", "tsec"]) == "zz***zz"
    assert mask("the password is passw0rd123", ["passw0rd", "passw0rd123"]) == "the password is ***"


def test_short_fragments_and_empty_secrets_are_ignored():
    assert mask("a b c abc", ["a", "", "abc"]) == "a b c abc"
    assert mask("nothing here", []) == "nothing here"


def test_mask_data_walks_nested_structures():
    data = {"env": {"TOKEN": "tok-123456"}, "args": ["--pass", "tok-123456"], "n": 3}
    assert mask_data(data, ["tok-123456"]) == {"env": {"TOKEN": MASK}, "args": ["--pass", MASK], "n": 3}


def test_stream_masker_catches_a_secret_split_across_chunks():
    masker = StreamMasker(["hunter2-secret"])
    out = masker.feed("line one hun")
    out += masker.feed("ter2-sec")
    out += masker.feed("ret line two\n")
    out += masker.flush()
    assert out == "line one *** line two\n"
    assert "hunter" not in out


def test_stream_masker_emits_early_what_cannot_be_a_secret():
    masker = StreamMasker(["abcdefgh"])
    text = "0123456789" * 3
    first = masker.feed(text)
    # Held back: one character less than the longest masked form, base64 "YWJjZGVmZ2g=".
    assert masker.hold == len("YWJjZGVmZ2g=") - 1
    assert first == text[: len(text) - masker.hold]
    assert first + masker.flush() == text


def test_stream_masker_with_one_character_chunks_and_overlapping_secrets():
    secrets = ["abcdef", "defghij", SSH_KEY]
    text = "start abcdefghij middle " + SSH_KEY + " end"
    masker = StreamMasker(secrets)
    out = "".join(masker.feed(char) for char in text) + masker.flush()
    assert out == mask(text, secrets) == "start *** middle *** end"


@settings(max_examples=150, deadline=None)
@given(
    secret=st.text(alphabet="abcxyz:/@+=", min_size=4, max_size=12),
    noise=st.lists(st.text(alphabet="abcxyz :/@\n", max_size=12), min_size=1, max_size=5),
    cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=6),
)
def test_stream_masking_equals_masking_the_whole_text(secret, noise, cuts):
    text = secret.join(noise) + secret
    masker = StreamMasker([secret])
    pieces, previous = [], 0
    for cut in [*sorted(set(cuts)), len(text)]:
        pieces.append(masker.feed(text[previous:cut]))
        previous = max(previous, cut)
    streamed = "".join(pieces) + masker.flush()
    assert streamed == mask(text, [secret])
    assert secret not in streamed


@pytest.mark.parametrize("secret", ["pa ss word", "ünïcødé-sécret", "a+b/c==", "100%real"])
def test_unusual_characters(secret):
    text = f"[{secret}] [{quote(secret, safe='')}] [{base64.b64encode(secret.encode()).decode()}]"
    assert mask(text, [secret]) == "[***] [***] [***]"
