"""Secrets at rest (app/services/settings/secret_box.py): sealed with a key derived from the instance secret."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet, InvalidToken

from app.services.settings.secret_box import SecretBox, SecretUnreadable

KEY = "sk-ant-api03-" + "x" * 40  # what an Anthropic key looks like


def test_a_sealed_secret_opens_again_and_shows_nothing_of_itself():
    box = SecretBox("instance secret one")
    sealed = box.seal(KEY)
    assert box.open(sealed) == KEY
    assert KEY not in sealed and "sk-ant" not in sealed and "xxxx" not in sealed
    assert SecretBox("instance secret one").open(sealed) == KEY  # another worker, the same instance


def test_each_seal_differs_so_equal_secrets_cannot_be_told_apart():
    box = SecretBox("instance secret one")
    assert box.seal(KEY) != box.seal(KEY)


def test_another_instance_secret_cannot_open_it():
    sealed = SecretBox("instance secret one").seal(KEY)
    with pytest.raises(SecretUnreadable, match="SECRET_KEY"):
        SecretBox("instance secret two").open(sealed)


@pytest.mark.parametrize("change", [lambda text: text[:-4], lambda text: text[:20] + ("A" if text[20] != "A" else "B")
                                    + text[21:], lambda text: "not a sealed value", lambda text: "é"])
def test_an_altered_value_is_refused_not_decrypted_into_garbage(change):
    box = SecretBox("instance secret one")
    with pytest.raises(SecretUnreadable):
        box.open(change(box.seal(KEY)))


def test_an_empty_instance_secret_is_refused():
    with pytest.raises(ValueError):
        SecretBox("")


def test_the_key_is_not_the_instance_secret_itself():
    """Fernet keys are 32 bytes in URL-safe base64: a secret used as-is would be refused or, worse, shared
    with the session cookies' signing; the derived key opens only what this box sealed."""
    secret = "k" * 32
    sealed = SecretBox(secret).seal(KEY)
    with pytest.raises(InvalidToken):
        Fernet(base64.urlsafe_b64encode(secret.encode())).decrypt(sealed.encode())
