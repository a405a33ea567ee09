"""History files: which commands of the tag's scripts write files from ``git log``, and which
``git log`` options a history file's own lines point to (the runs themselves: test_regenerate.py)."""

from __future__ import annotations

from provcheck_release import history

PERL_RELEASE_SCRIPT = b"""#!/usr/bin/env perl
print "produce CHANGES\\n";
`git log --pretty=fuller --no-color --date=short --decorate=full -1000 | ./git2changes.pl > CHANGES.dist`;
system("git log --stat > ChangeLog");
my $v = `git log -1 --format=%H`;
"""


def test_release_script_commands_of_any_script_language_become_jobs():
    tag = {"maketgz": PERL_RELEASE_SCRIPT, "git2changes.pl": b"#!/usr/bin/env perl\nprint;\n",
           "doc/notes.txt": b"git log > ChangeLog\n"}
    jobs = history.script_jobs(tag)
    assert [j.script for j in jobs] == [
        "chmod +x './git2changes.pl' && git log --pretty=fuller --no-color --date=short --decorate=full -1000 "
        "| ./git2changes.pl > 'CHANGES.dist'",
        "git log --stat > 'ChangeLog'"]
    assert all(j.git for j in jobs) and jobs[0].name.startswith("maketgz:3 ")


def test_commands_with_variables_or_substitutions_are_not_run():
    tag = {"dist.sh": b"#!/bin/sh\ngit log $range > ChangeLog\ngit log `cat range` > NEWS\ngit log > \"$out\"\n"}
    assert history.script_jobs(tag) == []


def test_option_sets_follow_the_files_own_lines():
    medium = b"commit " + b"a" * 40 + b"\nAuthor: A <a@example.org>\nDate:   Thu Feb 2 23:21:54 2023 +1100\n\n    x\n"
    sets = history.option_sets(medium)
    assert ["--no-color", "--no-merges"] in sets and ["--no-color"] in sets and len(sets) == 8
    fuller = (b"commit " + b"b" * 40 + b"\nMerge: 1 2\nAuthor:     A\nAuthorDate: 2023-02-02 23:21:54 +1100\n"
              b"Commit:     A\nCommitDate: 2023-02-02 23:21:54 +1100\n\n    x\n\n x | 2 +-\n 1 file changed, 1 insertion(+)\n")
    assert history.option_sets(fuller)[0] == ["--no-color", "--pretty=fuller", "--date=iso", "--stat"]


def test_only_files_that_start_like_git_log_are_candidates():
    release = {"ChangeLog": lambda: b"commit " + b"c" * 40 + b"\nAuthor: A\n\n    x\n\ncommit " + b"d" * 40 + b"\n",
               "NEWS": lambda: b"1.0: first\ncommit " + b"c" * 40 + b"\n", "README": lambda: b"hello\n"}
    (c,) = history.candidates(release, tag={"README": b"hello\n"})
    assert (c.path, c.first, c.commits) == ("ChangeLog", "c" * 40, 2)
