"""Profile files: loading, validation errors that name the file and field, lookup order."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.errors import GuestError, ProfileError
from sandbox.profile import find_profile, list_profiles, load_profile, profile_dirs

GOOD = """
name = "myedit"
command = ["myedit", "--new"]
network = "full"
[ready]
wm_class = "myedit"
"""


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_builtin_profile_loads() -> None:
    names = list_profiles({"HOME": "/nonexistent"})
    assert {"xterm", "mousepad", "galculator", "gnumeric", "pcmanfm", "libreoffice-calc", "chromium"} <= set(
        names
    )
    for path in names.values():
        profile = load_profile(path)
        assert profile.command and (profile.ready.wm_class or profile.ready.title)


def test_a_good_profile(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, GOOD))
    assert profile.name == "myedit" and profile.command == ("myedit", "--new")
    assert profile.network == "full" and profile.screen == (1280, 800)
    assert profile.launch_env() == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = 'x'\ncommand = []\n[ready]\nwm_class='x'", "field 'command': expected a non-empty list"),
        ("name = 'Bad Name'\ncommand = ['x']\n[ready]\nwm_class='x'", "field 'name'"),
        ("name = 'x'\ncommand = ['x']\ncolour = 1\n[ready]\nwm_class='x'", r"unknown fields \['colour'\]"),
        ("name = 'x'\ncommand = ['x']\nnetwork = 'wifi'\n[ready]\nwm_class='x'", "field 'network'"),
        ("name = 'x'\ncommand = ['x']\n[ready]\nwm_class='('", "bad regex"),
        ("name = 'x'\ncommand = ['x']\n[ready]\ntimeout_s = 3", "give wm_class or title"),
        ("name = 'x'\ncommand = ['x']\nscreen = [10, 10]\n[ready]\ntitle='x'", "field 'screen'"),
        ("name = 'x'\ncommand = ['x']\nhome_template = 'nope'\n[ready]\ntitle='x'", "does not exist"),
        ("name = 'x\ncommand", "not valid TOML"),
    ],
)
def test_errors_name_the_file_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProfileError, match=message) as info:
        load_profile(path)
    assert str(path) in str(info.value)


def test_user_profiles_override_builtin_ones(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("myedit", "mousepad", 1), "mousepad.toml")
    env = {"CUA_PROFILE_PATH": str(tmp_path), "HOME": "/nonexistent"}
    assert profile_dirs(env)[0] == tmp_path
    assert list_profiles(env)["mousepad"] == tmp_path / "mousepad.toml"
    assert find_profile("mousepad", env).command == ("myedit", "--new")


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"unknown application profile 'nope'; known: .*mousepad"):
        find_profile("nope")


def test_setup_steps_apply_themselves_and_name_where_a_command_failed() -> None:
    from sandbox.base import ExecResult
    from sandbox.fake import FakeSandbox
    from sandbox.profile import RunCommand, WriteFile, run_setup

    box = FakeSandbox(exec_handlers={"boom": lambda argv, stdin, files: ExecResult(2, b"", b"it broke")})
    box.reset("fake")
    run_setup(box, [WriteFile("a/b.txt", b"x", 0o600), RunCommand(("true",))])
    assert box.read_file("a/b.txt") == b"x"
    with pytest.raises(GuestError, match=r"^task t/0: setup command \['boom'\] exited with 2: it broke$"):
        run_setup(box, [RunCommand(("boom",))], "task t/0: ")
    with pytest.raises(ProfileError, match="not a setup step"):
        run_setup(box, ["echo hi"])  # type: ignore[list-item]
