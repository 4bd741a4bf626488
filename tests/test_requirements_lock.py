"""requirements-lock.txt (what `make` installs) is in step with the direct pins in requirements.txt.

After editing requirements.txt, `make lock` re-resolves the lock; this test fails until then.
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", flags=re.MULTILINE)


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(text: str) -> dict[str, str]:
    return {_name(name): version for name, version in PIN.findall(text)}


def test_every_direct_pin_is_locked_at_the_same_version():
    direct = _pins((ROOT / "requirements.txt").read_text())
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert len(direct) == len(lines), "requirements.txt holds exact pins only (name==version), one a line"
    locked = _pins((ROOT / "requirements-lock.txt").read_text())
    out_of_step = {name: (version, locked.get(name)) for name, version in direct.items() if locked.get(name) != version}
    assert not out_of_step, f"requirements.txt vs requirements-lock.txt: {out_of_step}; run `make lock`"


def test_every_locked_package_is_pinned_with_a_hash():
    text = (ROOT / "requirements-lock.txt").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert len(entries) >= 100, "the lock resolves every transitive dependency"
    unhashed = [e.split()[0] for e in entries if not re.search(r"--hash=sha256:[0-9a-f]{64}", e)]
    assert not unhashed, f"lock entries without a hash: {unhashed}"
    assert all(PIN.match(e) for e in entries), "every lock entry is an exact pin"
