"""Property-based fuzzing (hypothesis) of the three readers that take files from strangers: annotation and label
lists, config files and ``--opts``, and checkpoint files (safetensors headers and torch pickles).

The property is the project's error contract: bad input gives one clear line of the documented family
(AnnotationError / ConfigError / a ValueError-or-OSError naming the file), never another exception type, a
traceback-worthy crash, or code run from a pickle. Bounded: a fixed number of derandomized examples per target, so
the suite takes a few seconds and CI is reproducible; ``VIDEOFOCALNET_FUZZ_EXAMPLES=5000`` explores further.

Failures found and fixed (each kept below as an explicit ``@example``): a safetensors file whose 8-byte header
length begins with 0x80 (a legacy pickle's magic byte) and whose JSON header is not an object went to
``torch.load``, which hands such files to safetensors; its ``SafetensorError`` escaped ``load_torch_object`` as a
traceback (found at 2,500 examples per target); a torch archive whose pickle names a persistent id ``\x00torage``
instead of ``storage`` (one byte zeroed) tripped an ``assert`` inside ``torch.load``, whose AssertionError escaped
the same way; one byte of a pickle's length field set to 0x8e made the unpickler ask for an impossible allocation
(MemoryError). Other ``@example`` lines pin inputs that must keep failing cleanly.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import tempfile
from pathlib import Path

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis", reason="fuzz targets need hypothesis (pip install -e '.[test]')")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from videofocalnet.data.annotations import (  # noqa: E402
    AnnotationError,
    check_annotations,
    read_annotation_list,
    read_label_list,
    write_annotation_list,
)
from videofocalnet.engine.config import Config, ConfigError, all_keys, apply_opts, load_config, merge_dict  # noqa: E402

EXAMPLES = int(os.environ.get("VIDEOFOCALNET_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text.strip(), f"{type(exc).__name__} with an empty message"
    assert "\n" not in text.strip(), f"{type(exc).__name__} message spans lines: {text!r}"


def _scratch(data: bytes | str, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    return Path(name)


# ---------------------------------------------------------------------------------------------- annotation lists
LIST_LINE = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda path, sep, labels: path + sep + sep.join(labels),
        st.text(st.characters(blacklist_characters="\n\r"), max_size=20),
        st.sampled_from([",", " ", "\t", " , "]),
        st.lists(
            st.sampled_from(["0", "1", "17", "-1", "+3", "x", "", "1.5", "٣", "99999999999999999999"]), max_size=3
        ),
    ),
)


@FUZZ
@given(lines=st.lists(LIST_LINE, max_size=12), bom=st.booleans(), crlf=st.booleans())
@example(lines=["a.mp4 \x00"], bom=False, crlf=False)
@example(lines=["a.mp4,٣"], bom=False, crlf=False)  # a non-ASCII digit is no label
def test_annotation_lists_parse_or_fail_with_one_annotation_error(lines, bom, crlf):
    text = ("\r\n" if crlf else "\n").join(lines)
    path = _scratch(("\ufeff" if bom else "") + text, ".csv")
    try:
        try:
            entries = read_annotation_list(path, num_classes=20)
        except AnnotationError as exc:
            _one_line(exc)
            assert str(path) in str(exc)
            entries = None
        if entries is not None:
            for e in entries:
                assert e.path and e.path == e.path.strip() and all(0 <= x < 20 for x in e.labels)
            writable = [e for e in entries if "," not in e.path]
            out = path.with_suffix(".out.csv")
            try:
                write_annotation_list(out, writable)
            except AnnotationError as exc:
                _one_line(exc)
            else:
                again = read_annotation_list(out)
                assert [(e.path, e.label) for e in again] == [(e.path, e.label) for e in writable]
                out.unlink()
        try:
            report = check_annotations(path, root=path.parent, num_classes=20, check_videos=False)
        except AnnotationError as exc:  # only a file that is not UTF-8 text stops the lenient check
            _one_line(exc)
            assert "not UTF-8" in str(exc)
        else:
            assert report.to_dict()["num_entries"] == report.num_entries
    finally:
        path.unlink()


@FUZZ
@given(data=st.binary(max_size=200))
@example(data=b"\xff\xfe a.mp4,1\n")
def test_annotation_and_label_lists_of_random_bytes(data):
    path = _scratch(data, ".txt")
    try:
        for reader in (read_annotation_list, read_label_list):
            try:
                reader(path)
            except AnnotationError as exc:
                _one_line(exc)
    finally:
        path.unlink()


LABEL_LINE = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda i, name: f"{i},{name}", st.sampled_from(["0", "1", "2", "-1", "a", "", " 3"]), st.text(max_size=10)
    ),
)


@FUZZ
@given(header=st.sampled_from(["", "id,name", "ID, Name", "name"]), lines=st.lists(LABEL_LINE, max_size=10))
@example(header="", lines=["\x00"])
@example(header="", lines=["\x1c"])  # a file separator is a line break to str.splitlines
def test_label_lists_parse_or_fail_with_one_annotation_error(header, lines):
    path = _scratch("\n".join([header, *lines] if header else lines), ".csv")
    try:
        names = read_label_list(path)
    except AnnotationError as exc:
        _one_line(exc)
    else:
        assert len(set(names)) == len(names) and all(n and n == n.strip() for n in names)
    finally:
        path.unlink()


# ---------------------------------------------------------------------------------------------- configs
KEYS = all_keys()
SECTIONS = sorted({k.split(".")[0] for k in KEYS})
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-3, 300), max_size=5),
)
VALUE = st.recursive(SCALAR, lambda inner: st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


def _nested(key: str, value):
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


@FUZZ
@given(
    items=st.lists(st.tuples(st.one_of(st.sampled_from(KEYS), st.text(max_size=12)), VALUE), max_size=6),
    section_junk=st.dictionaries(st.sampled_from(SECTIONS), SCALAR, max_size=2),
)
def test_merge_dict_and_validate_raise_only_config_errors(items, section_junk):
    cfg = Config()
    data: dict = {}
    for key, value in items:
        data.update(_nested(key, value) if key else {key: value})
    data.update(section_junk)
    try:
        merge_dict(cfg, data, source="fuzz.yaml")
        cfg.validate()
    except ConfigError as exc:
        _one_line(exc)


@FUZZ
@given(opts=st.lists(st.one_of(st.sampled_from(KEYS), st.text(max_size=16)), max_size=6))
@example(opts=["", "1"])
@example(opts=["MODEL.SPEC.", "x"])
@example(opts=["TRAIN.BASE_LR", "!!python/object:os.system 'echo'"])
def test_apply_opts_raises_only_config_errors(opts):
    try:
        apply_opts(Config(), opts).validate()
    except ConfigError as exc:
        _one_line(exc)


@FUZZ
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
@example(text="BASE: ['x.yaml']\n")
@example(text="!!python/object/apply:os.system ['echo pwned']\n")
@example(text="DATA: [1, 2]\n")
@example(text=b"\xff\xfeD\x00A\x00")
def test_config_files_load_or_fail_with_one_config_error(text):
    path = _scratch(text, ".yaml")
    try:
        load_config(path)
    except ConfigError as exc:
        _one_line(exc)
    finally:
        path.unlink()


# ---------------------------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def checkpoint_files(tmp_path_factory) -> dict[str, Path]:
    """A real safetensors export of a tiny Video-FocalNet and real torch files: the bytes mutations start from."""
    from videofocalnet.models import create_model
    from videofocalnet.weights import save_weights

    root = tmp_path_factory.mktemp("fuzz_ckpt")
    kwargs = dict(num_classes=3, embed_dim=8, depths=[1, 1, 1, 1], num_frames=2, img_size=32)
    model = create_model("video_focalnet_tiny", **kwargs)
    ours = save_weights(root / "tiny.safetensors", model, model_name="video_focalnet_tiny", model_kwargs=kwargs)
    state = {"a": torch.arange(6.0), "b": torch.ones(2, 2)}
    torch.save(state, root / "plain.pt")
    torch.save({"model": state, "epoch": 3}, root / "wrapped.pth")
    return {"safetensors": ours, "torch": root / "plain.pt", "wrapped": root / "wrapped.pth"}  # paths: short reports


CHECKPOINT_ERRORS = (ValueError, OSError)


def _read_any(path: Path) -> None:
    from videofocalnet.hub import read_checkpoint
    from videofocalnet.weights import _is_safetensors, read_metadata

    for reader in ((read_metadata,) if _is_safetensors(path) else ()) + (read_checkpoint,):
        try:
            reader(path)
        except CHECKPOINT_ERRORS as exc:
            _one_line(exc)


def _with_header(data: bytes, header: bytes) -> bytes:
    (length,) = struct.unpack("<Q", data[:8])
    return struct.pack("<Q", len(header)) + header + data[8 + length :]


HEADER_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**65), 2**65), st.text(max_size=10), st.floats()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=10,
)


@FUZZ
@given(
    kind=st.sampled_from(["safetensors", "torch", "wrapped"]),
    edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
@example(kind="torch", edits=[(0.06640625, 0)], cut=None)  # found: a NUL in 'storage' -> torch's AssertionError
@example(kind="torch", edits=[(0.140625, 142)], cut=None)  # found: a corrupt pickle length -> MemoryError
def test_mutated_checkpoint_bytes_give_one_line_value_or_os_errors(checkpoint_files, tmp_path, kind, edits, cut):
    data = bytearray(checkpoint_files[kind].read_bytes())
    for where, byte in edits:
        data[min(int(where * len(data)), len(data) - 1)] = byte
    if cut is not None:
        data = data[: int(cut * len(data))]
    path = tmp_path / f"m.{'safetensors' if kind == 'safetensors' else 'pt'}"
    path.write_bytes(bytes(data))
    _read_any(path)


@FUZZ
@given(
    header=st.one_of(
        HEADER_JSON.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=64),
        st.builds(
            lambda meta: json.dumps({"__metadata__": meta}).encode(),
            st.dictionaries(st.sampled_from(["videofocalnet", "format", "x"]), st.text(max_size=40), max_size=3),
        ),
        st.builds(
            lambda value: json.dumps({"__metadata__": {"videofocalnet": json.dumps(value)}}).encode(), HEADER_JSON
        ),
    )
)
@example(header=b'{"__metadata__": {"videofocalnet": "{\\"model_name\\": 1, \\"model_kwargs\\": []}"}}')
@example(header=b'{"__metadata__": {"videofocalnet": "[]"}}')
# found by this target: a 128-byte header (length byte 0x80, a legacy pickle's magic) holding a JSON array went to
# torch.load, which handed it to safetensors, whose SafetensorError escaped load_torch_object
@example(header=b"[" + b" " * 126 + b"]")  # 128 bytes: the length's low byte is 0x80
@example(header=b"[" + b" " * 382 + b"]")  # 384 bytes: so is this one's
def test_safetensors_headers_give_one_line_value_or_os_errors(checkpoint_files, tmp_path, header):
    path = tmp_path / "h.safetensors"
    path.write_bytes(_with_header(checkpoint_files["safetensors"].read_bytes(), header))
    _read_any(path)


class _Exec:
    """A pickle that runs ``os.system`` when loaded by a plain unpickler."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@FUZZ
@given(
    target=st.sampled_from(
        [
            ("os", "system"),
            ("posix", "system"),
            ("builtins", "exec"),
            ("builtins", "eval"),
            ("subprocess", "call"),
            ("torch", "load"),
            ("builtins", "getattr"),
            ("torch._utils", "_rebuild_tensor_v2x"),
        ]  # fmt: skip
    ),
    wrap=st.booleans(),
    protocol=st.integers(2, 5),
)
def test_pickles_that_would_run_code_are_refused(tmp_path, target, wrap, protocol):
    marker = tmp_path / "pwned"
    module, name = target
    payload = pickle.dumps(_Exec(f"touch {marker}"), protocol=protocol)
    payload = payload.replace(b"posix", module.encode()) if module != "posix" else payload
    payload = payload.replace(b"system", name.encode())
    path = tmp_path / "evil.pt"
    if wrap:  # inside a torch zip archive, where torch.load would find it
        buffer = io.BytesIO()
        torch.save({"x": torch.zeros(1)}, buffer)
        raw = buffer.getvalue()
        import zipfile

        with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(path, "w") as dst:
            for item in src.infolist():
                body = payload if item.filename.endswith("data.pkl") else src.read(item.filename)
                dst.writestr(item, body)
    else:
        path.write_bytes(payload)
    _read_any(path)
    assert not marker.exists()
