"""Tests for freezelab.settings: the FREEZELAB_QUICK switch and its CI default."""

import pytest

from freezelab.settings import pick, quick_mode


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("FREEZELAB_QUICK", raising=False)
    monkeypatch.delenv("CI", raising=False)
    return monkeypatch


@pytest.mark.parametrize("word", ["1", "true", "yes", "on", "TRUE", "Yes", " on ", "true\n"])
def test_quick_is_on_for_every_true_word(clean_env, word):
    clean_env.setenv("FREEZELAB_QUICK", word)
    assert quick_mode() is True


@pytest.mark.parametrize("word", ["0", "false", "no", "off", "", "2", "y", "quick"])
def test_quick_is_off_for_any_other_word(clean_env, word):
    clean_env.setenv("FREEZELAB_QUICK", word)
    assert quick_mode() is False


def test_unset_quick_and_unset_ci_is_off(clean_env):
    assert quick_mode() is False


@pytest.mark.parametrize("word", ["true", "1", "yes", "on", "True"])
def test_ci_turns_quick_on_when_quick_is_unset(clean_env, word):
    clean_env.setenv("CI", word)
    assert quick_mode() is True


@pytest.mark.parametrize("word", ["false", "0", "", "no"])
def test_ci_that_is_not_true_leaves_quick_off(clean_env, word):
    clean_env.setenv("CI", word)
    assert quick_mode() is False


@pytest.mark.parametrize("word", ["0", "false", "off", ""])
def test_explicit_quick_off_wins_over_ci(clean_env, word):
    clean_env.setenv("CI", "true")
    clean_env.setenv("FREEZELAB_QUICK", word)
    assert quick_mode() is False


def test_explicit_quick_on_without_ci(clean_env):
    clean_env.setenv("CI", "false")
    clean_env.setenv("FREEZELAB_QUICK", "1")
    assert quick_mode() is True


def test_quick_mode_reads_the_environment_at_every_call(clean_env):
    assert quick_mode() is False
    clean_env.setenv("FREEZELAB_QUICK", "yes")
    assert quick_mode() is True
    clean_env.setenv("FREEZELAB_QUICK", "no")
    assert quick_mode() is False


def test_pick_returns_the_quick_value_in_quick_mode(clean_env):
    full, quick = [224, 224], [32]
    clean_env.setenv("FREEZELAB_QUICK", "1")
    assert pick(full, quick) is quick


def test_pick_returns_the_full_value_otherwise(clean_env):
    full, quick = {"steps": 40}, {"steps": 2}
    assert pick(full, quick) is full
    clean_env.setenv("FREEZELAB_QUICK", "0")
    assert pick(full, quick) is full


def test_pick_follows_ci_when_quick_is_unset(clean_env):
    clean_env.setenv("CI", "true")
    assert pick(224, 32) == 32
    clean_env.setenv("FREEZELAB_QUICK", "0")
    assert pick(224, 32) == 224
