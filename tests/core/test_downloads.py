"""Downloads against local servers: complete, cut, wrong, silent, refused, trickling."""

import hashlib
import time

import pytest

from freezelab.core.downloads import cached_file_problem, fetch, md5_of
from tests.support.servers import closed_port_url, serve, silent_listener

BODY = bytes(range(256)) * 40  # 10,240 bytes
BODY_MD5 = hashlib.md5(BODY).hexdigest()


def test_complete_download_is_verified_and_lands_in_place(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    with serve({"file.bin": BODY}) as url:
        result = fetch(url + "file.bin", target, timeout=2, total_timeout=5, md5=BODY_MD5)
    assert result.ok and result.reason == ""
    assert target.read_bytes() == BODY
    assert md5_of(target) == BODY_MD5
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["file.bin"]  # no part file left


def test_cut_download_never_becomes_the_target(tmp_path):
    target = tmp_path / "file.bin"
    with serve({"file.bin": BODY}, cut={"file.bin": 1000}) as url:
        result = fetch(url + "file.bin", target, timeout=2, total_timeout=5)
    assert not result.ok
    assert "stopped after 1,000 of 10,240 bytes" in result.reason
    assert list(tmp_path.iterdir()) == []  # neither the target nor a part file


def test_wrong_hash_is_refused(tmp_path):
    target = tmp_path / "file.bin"
    with serve({"file.bin": BODY}) as url:
        result = fetch(url + "file.bin", target, timeout=2, total_timeout=5, md5="0" * 32)
    assert not result.ok and f"MD5 {BODY_MD5}" in result.reason
    assert not target.exists()


def test_server_that_never_answers_is_given_up_on_after_the_timeout(tmp_path):
    with silent_listener() as url:
        start = time.perf_counter()
        result = fetch(url + "file.bin", tmp_path / "f", timeout=0.5, total_timeout=5)
        elapsed = time.perf_counter() - start
    assert not result.ok
    assert "no answer from 127.0.0.1" in result.reason and "within 0.5 s" in result.reason
    assert 0.4 < elapsed < 2.5
    assert result.elapsed_s == pytest.approx(elapsed, abs=0.2)


def test_trickling_server_is_cut_off_by_the_total_bound(tmp_path):
    with serve({"slow.bin": b"x" * 200}, trickle=0.05) as url:
        start = time.perf_counter()
        result = fetch(url + "slow.bin", tmp_path / "f", timeout=1, total_timeout=1)
        elapsed = time.perf_counter() - start
    assert not result.ok
    assert "within 1 s" in result.reason or "ran out of time" in result.reason
    assert elapsed < 2.0
    assert not (tmp_path / "f").exists()


def test_refused_connection_and_missing_file_say_so(tmp_path):
    result = fetch(closed_port_url() + "x", tmp_path / "f", timeout=1, total_timeout=2)
    assert not result.ok and "connection refused by 127.0.0.1" in result.reason
    assert result.elapsed_s < 1.0
    with serve({}) as url:
        missing = fetch(url + "absent.bin", tmp_path / "f", timeout=1, total_timeout=2)
    assert not missing.ok and "HTTP 404" in missing.reason


def test_cached_file_problem_names_the_file(tmp_path):
    path = tmp_path / "weights.h5"
    assert "is not there" in cached_file_problem(path, BODY_MD5)
    path.write_bytes(b"")
    assert "is empty" in cached_file_problem(path, BODY_MD5)
    path.write_bytes(BODY[:100])
    problem = cached_file_problem(path, BODY_MD5)
    assert str(path) in problem and "100 bytes" in problem and "incomplete or corrupt" in problem
    path.write_bytes(BODY)
    assert cached_file_problem(path, BODY_MD5) == ""
    assert cached_file_problem(path, None) == ""


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), "5", None])
def test_timeouts_must_be_positive_finite_numbers(tmp_path, timeout):
    with pytest.raises(ValueError, match=r"Received: timeout="):
        fetch("http://127.0.0.1:1/", tmp_path / "f", timeout=timeout, total_timeout=1)
